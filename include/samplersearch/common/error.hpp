#pragma once
// Tier 2 of the three error tiers: bad input (a config, a flag, a file) is a typed exception
// whose message names the file or field and the reason. Tier 3 (a numerical failure inside a
// trial) is NumericalError, which the search loop turns into a FAIL trial.
#include <stdexcept>
#include <string>

namespace samplersearch {

// Base of every error a user can cause; what() is the whole message shown to them.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad option, flag or experiment-file field: "<field>: <reason>".
class ConfigError : public Error {
 public:
  ConfigError(const std::string& field, const std::string& reason)
      : Error(field + ": " + reason), field_(field) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// A file that is missing, truncated or malformed: "<path>: <what>: <reason>".
class FileError : public Error {
 public:
  FileError(const std::string& path, const std::string& reason)
      : Error(path + ": " + reason), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A NaN/Inf or a failed decomposition while evaluating one trial: that trial FAILs.
class NumericalError : public Error {
 public:
  using Error::Error;
};

}  // namespace samplersearch
