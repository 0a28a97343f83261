#pragma once
// SHA-256 (FIPS 180-4) through nettle, Debian's maintained implementation.
#include <string>

namespace samplersearch {

// SHA-256 of bytes, as 64 lower-case hex digits.
std::string sha256_hex(const std::string& bytes);

}  // namespace samplersearch
