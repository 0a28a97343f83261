// Experiment files (experiments/README.md): parse_experiment on arbitrary bytes.
#include "fuzz_support.hpp"
#include "samplersearch/experiments/experiment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  samplersearch::fuzz::expect_typed_errors([&] {
    samplersearch::parse_experiment(samplersearch::fuzz::as_text(data, size), "fuzz.json");
  });
  return 0;
}
