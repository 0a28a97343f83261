#pragma once
// Tier 1 of the three error tiers: a broken invariant is a bug in samplersearch itself.
// SS_CHECK(cond) << "context" prints file:line, the condition and the context, then aborts.
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace samplersearch::detail {

// Collects the message of a failed check and aborts when it goes out of scope.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    stream_ << file << ":" << line << ": invariant broken: " << condition;
  }
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  template <class T>
  CheckFailure& operator<<(const T& value) {
    stream_ << (first_ ? ": " : "") << value;
    first_ = false;
    return *this;
  }

 private:
  std::ostringstream stream_;
  bool first_ = true;
};

}  // namespace samplersearch::detail

#define SS_CHECK(condition) \
  if (condition) {          \
  } else                    \
    ::samplersearch::detail::CheckFailure(__FILE__, __LINE__, #condition)
