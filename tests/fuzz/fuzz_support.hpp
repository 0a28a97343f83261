#pragma once
// Shared by the libFuzzer targets: bytes as text, a scratch file for readers that take a path,
// and the contract every target checks -- bad bytes raise a samplersearch::Error (error.hpp),
// anything else (another exception, a crash, a sanitizer report) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "samplersearch/common/error.hpp"

namespace samplersearch::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A file named for this process (libFuzzer's -fork/-jobs workers each get their own) holding
// the input, so readers that open a path see exactly these bytes.
inline std::string scratch_file(const uint8_t* data, size_t size, const std::string& extension) {
  const std::string path = "/tmp/samplersearch-fuzz-" + std::to_string(::getpid()) + extension;
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
