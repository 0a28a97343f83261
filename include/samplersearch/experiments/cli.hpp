#pragma once
// The command-line interface: a registry of subcommands and a small flag parser. The CLI is thin:
// parse, call the libraries, print.
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace samplersearch::cli {

// Exit codes (documented in README.md).
enum ExitCode : int {
  kOk = 0,
  kFailure = 1,  // an operation failed (numerical failure, I/O)
  kUsage = 2,    // bad flags, unknown names, impossible combinations
  kBadFile = 3,  // a file is missing, truncated or malformed
  kInterrupted = 130,
};

// Parsed "--flag value" pairs and positional arguments; every flag must be read or it is an error.
class Args {
 public:
  Args(std::string command, std::span<const std::string> argv);
  // The value of --name, if given.
  std::optional<std::string> get(const std::string& name);
  // The value of --name, or ConfigError("--name", "is required").
  std::string require(const std::string& name);
  std::optional<double> get_double(const std::string& name);
  std::optional<int> get_int(const std::string& name);
  std::optional<bool> get_bool(const std::string& name);
  // Comma-separated items.
  std::optional<std::vector<std::string>> get_strings(const std::string& name);
  // Comma-separated numbers.
  std::optional<std::vector<double>> get_doubles(const std::string& name);
  bool flag(const std::string& name);  // a boolean switch with no value (e.g. --help)
  // Every value of a repeatable flag (only --set repeats), in order.
  std::vector<std::string> get_all(const std::string& name);
  const std::vector<std::string>& positional() const { return positional_; }
  // ConfigError naming the first flag that no one read.
  void finish() const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> multi_;
  std::map<std::string, bool> used_;
  std::vector<std::string> positional_;
};

// One row of the command registry.
struct Command {
  std::string_view name;
  std::string_view summary;
  std::string (*help)();  // full --help text, generated from the registries it uses
  int (*run)(Args& args);
};

std::span<const Command> command_registry();

// Entry point: dispatches argv to a command; prints errors and maps them to exit codes.
int main(int argc, char** argv);

}  // namespace samplersearch::cli
