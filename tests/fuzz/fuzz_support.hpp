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
// directory made for this process (libFuzzer's -fork/-jobs workers each get their own) and is
// named through the process's descriptor of it, "/proc/self/fd/N/input<extension>": the same
// text in every run on every machine. The path reaches compared strings (error messages, libhdf5's
// file names), whose bytes libFuzzer feeds back into its mutations; a name holding the process id
// made the same -seed fuzz a different sequence where the id had another number of digits.
inline std::string scratch_file(const uint8_t* data, size_t size, const std::string& extension) {
  static const std::string dir = [] {
    // Not TMPDIR: how long its value is changes the coverage of this (instrumented) code.
    std::string made = "/tmp/samplersearch-fuzz-XXXXXX";
    if (::mkdtemp(made.data()) == nullptr) std::abort();
    const int fd = ::open(made.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) std::abort();
    static const std::string real = made;
    std::atexit([] { std::filesystem::remove_all(real); });
    return "/proc/self/fd/" + std::to_string(fd);
  }();
  const std::string path = dir + "/input" + extension;
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
