// Prints the core OpenBLAS runs in a fresh process (openblas_get_corename), or "none" when
// libopenblas.so.0 cannot be loaded. No LibTorch, no samplersearch code: the independent side of
// test_blas_startup.
#include <dlfcn.h>

#include <cstdio>

int main() {
  void* lib = ::dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::puts("none");
    return 0;
  }
  using CoreName = char* (*)();
  void* symbol = ::dlsym(lib, "openblas_get_corename");
  std::puts(symbol != nullptr ? reinterpret_cast<CoreName>(symbol)() : "none");
  return 0;
}
