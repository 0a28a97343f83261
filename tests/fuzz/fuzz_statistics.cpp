// Statistics files (docs/equations.md §6): read_statistics on arbitrary bytes.
#include "fuzz_support.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = samplersearch::fuzz::scratch_file(data, size, ".h5");
  samplersearch::fuzz::expect_typed_errors([&] { samplersearch::read_statistics(path); });
  return 0;
}
