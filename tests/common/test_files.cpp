// SHA-256 from nettle against the FIPS 180-2 test vectors and Python's hashlib on a file, and
// the atomic file replacement.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include "samplersearch/common/files.hpp"
#include "samplersearch/common/sha256.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// FIPS 180-2, Appendix B.1 ("abc") and B.2 (the 448-bit two-block message).
TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// A 100,003-byte file of every byte value, hashed here and by /usr/bin/python3's hashlib.
TEST(Sha256, AgreesWithPythonHashlibOnAFile) {
  const fs::path path = fs::temp_directory_path() / ("sha256_" + std::to_string(::getpid()));
  std::string bytes(100003, '\0');
  std::mt19937 rng(7);
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;
  const std::string cmd =
      "/usr/bin/python3 -c \"import hashlib,sys; print(hashlib.sha256(open("
      "sys.argv[1],'rb').read()).hexdigest())\" " +
      path.string();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char out[80] = {};
  ASSERT_NE(std::fgets(out, sizeof out, pipe), nullptr);
  ASSERT_EQ(::pclose(pipe), 0);
  std::string expected(out);
  expected.erase(expected.find_last_not_of("\n") + 1);
  EXPECT_EQ(expected.size(), 64u);
  EXPECT_EQ(sha256_hex(slurp(path)), expected);
  fs::remove(path);
}

// The new content replaces the old at once; a writer that throws leaves the old file and no
// temporary behind.
TEST(Files, WriteFileAtomicallyReplacesOrLeavesTheOldFile) {
  const fs::path dir = fs::temp_directory_path() / ("atomic_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "f.txt").string();
  std::ofstream(path) << "old";
  write_file_atomically(path, [](const std::string& tmp) { std::ofstream(tmp) << "new"; });
  EXPECT_EQ(slurp(path), "new");
  EXPECT_THROW(write_file_atomically(path,
                                     [](const std::string& tmp) {
                                       std::ofstream(tmp) << "half";
                                       throw std::runtime_error("disk full");
                                     }),
               std::runtime_error);
  EXPECT_EQ(slurp(path), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace samplersearch
