// One deliberate fault per sanitizer, so that a sanitizer stage whose instrumentation was lost
// (a preset or flag edited away) fails instead of passing in silence. Each CTest case passes only
// when the sanitizer's own report appears in the output (tests/sanitizers/CMakeLists.txt).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

// ASan: a read one element past a heap array (AddressSanitizer: heap-buffer-overflow).
int heap_overflow(int n) {
  int* a = new int[static_cast<size_t>(n)];
  for (int i = 0; i < n; ++i) a[i] = i;
  const int past = a[n];  // NOLINT: the fault under test
  delete[] a;
  return past;
}

// UBSan: a signed addition past INT_MAX (runtime error: signed integer overflow).
int signed_overflow(int n) {
  volatile int big = 2147483647;
  return big + n;
}

// TSan: two threads writing one int with no synchronization (ThreadSanitizer: data race).
int counter = 0;
int data_race(int n) {
  std::thread t([n] {
    for (int i = 0; i < n; ++i) counter = counter + 1;
  });
  for (int i = 0; i < n; ++i) counter = counter + 1;
  t.join();
  return counter;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sanitizer_canary heap-overflow|signed-overflow|data-race\n");
    return 2;
  }
  const int n = argc + 1000;  // not a constant the compiler can fold
  int r = 0;
  if (std::strcmp(argv[1], "heap-overflow") == 0)
    r = heap_overflow(n);
  else if (std::strcmp(argv[1], "signed-overflow") == 0)
    r = signed_overflow(n);
  else if (std::strcmp(argv[1], "data-race") == 0)
    r = data_race(n);
  else
    return 2;
  std::printf("no report (result %d)\n", r);
  return 0;
}
