// HDF5 matrix files (docs/equations.md §4): read_matrices on arbitrary bytes named .h5.
#include "fuzz_support.hpp"
#include "samplersearch/samplers/matrix_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = samplersearch::fuzz::scratch_file(data, size, ".h5");
  samplersearch::fuzz::expect_typed_errors([&] { samplersearch::read_matrices(path); });
  return 0;
}
