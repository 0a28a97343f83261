#pragma once
// Shared by the libFuzzer targets: bytes as text, a scratch file for readers that take a path,
// and the contract every target checks -- bad bytes raise a samplersearch::Error (error.hpp),
// anything else (another exception, a crash, a sanitizer report) is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "samplersearch/common/error.hpp"

namespace samplersearch::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A file holding the input, so readers that open a path see exactly these bytes. It lives in a
// directory made for this process (libFuzzer's -fork/-jobs workers each get their own), opened as
// descriptor kScratchFd and named through it, "/proc/self/fd/987/input<extension>": the same text
// in every process on every machine. The path reaches compared strings and the instrumented code
// that builds them, so anything in it that varies varies the fuzzing: a name holding the process
// id, TMPDIR's value and the number of the first free descriptor (which depends on what the
// parent process left open) each made the same -seed run fuzz a different sequence.
inline constexpr int kScratchFd = 987;
inline std::string scratch_file(const uint8_t* data, size_t size, const std::string& extension) {
  static const bool made = [] {
    std::string dir = "/tmp/samplersearch-fuzz-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    // kScratchFd must be free: dup2 would silently close a descriptor the process relies on.
    if (fd < 0 || ::fcntl(kScratchFd, F_GETFD) != -1 || ::dup2(fd, kScratchFd) != kScratchFd)
      std::abort();
    ::close(fd);
    static const std::string real = dir;
    std::atexit([] { std::filesystem::remove_all(real); });
    return true;
  }();
  (void)made;
  static_assert(kScratchFd == 987, "the path below names kScratchFd");
  const std::string path = "/proc/self/fd/987/input" + extension;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`; the typed errors are the expected outcome of bad input and are swallowed.
template <class Parse>
void expect_typed_errors(Parse&& parse) {
  try {
    parse();
  } catch (const samplersearch::Error&) {
  }
}

}  // namespace samplersearch::fuzz
