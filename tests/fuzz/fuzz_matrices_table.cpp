// The papers' table (Zheng & Zheng 2025, Table 15-17): matrices_from_table on arbitrary text, on
// the VP-linear schedule with only t_0 = 1 given (the other times are read from the table).
#include "fuzz_support.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/schedule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto schedule = samplersearch::make_schedule("vp-linear");
  samplersearch::fuzz::expect_typed_errors([&] {
    samplersearch::matrices_from_table(samplersearch::fuzz::as_text(data, size), schedule, {1.0},
                                       "fuzz.txt");
  });
  return 0;
}
