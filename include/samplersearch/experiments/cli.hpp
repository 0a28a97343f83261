#pragma once
// The command-line interface: a registry of subcommands, each declaring its flags on CLI11
// (https://cliutils.github.io/CLI11/book/), so its --help and its unknown-flag and bad-value
// errors come from the declarations. The CLI is thin: parse, call the libraries, print.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace samplersearch::cli {

// Exit codes (documented in README.md).
enum ExitCode : int {
  kOk = 0,
  kFailure = 1,  // an operation failed (numerical failure, I/O)
  kUsage = 2,    // bad flags, unknown names, impossible combinations
  kBadFile = 3,  // a file is missing, truncated or malformed
  kInterrupted = 130,
};

// Flag declarations. Each adds one flag to a command; values are checked while parsing, so a bad
// value is ConfigError("--flag", reason) before the command runs.
// A string value (VALUE names it in --help).
CLI::Option* add_text(CLI::App& app, const std::string& flag, const std::string& value,
                      const std::string& help);
// An integer in [-10⁹, 10⁹].
CLI::Option* add_integer(CLI::App& app, const std::string& flag, const std::string& value,
                         const std::string& help);
// A finite real number.
CLI::Option* add_number(CLI::App& app, const std::string& flag, const std::string& value,
                        const std::string& help);
// Comma-separated finite real numbers.
CLI::Option* add_numbers(CLI::App& app, const std::string& flag, const std::string& value,
                         const std::string& help);
// true|false (or 1|0).
CLI::Option* add_boolean(CLI::App& app, const std::string& flag, const std::string& help);
// A switch that takes no value.
CLI::Option* add_switch(CLI::App& app, const std::string& flag, const std::string& help);
// A string flag that may be given several times (--set a=1 --set b=2).
CLI::Option* add_repeated(CLI::App& app, const std::string& flag, const std::string& value,
                          const std::string& help);
// The positional arguments (any number; the command checks how many it got).
CLI::Option* add_positionals(CLI::App& app, const std::string& name, const std::string& help);

struct Command;

// A command line parsed against one command's declarations. Reading a flag the command did not
// declare is a bug (SS_CHECK).
class Args {
 public:
  // Parses `argv` (the words after the command's name); ConfigError naming the first unknown
  // flag, the flag with a bad or missing value, or an unexpected argument.
  Args(const Command& command, std::span<const std::string> argv);
  ~Args();
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  bool help_requested() const { return help_; }
  // The value of --name, if given.
  std::optional<std::string> get(const std::string& name) const;
  // The value of --name, or ConfigError("--name", "is required").
  std::string require(const std::string& name) const;
  std::optional<double> get_double(const std::string& name) const;
  std::optional<int> get_int(const std::string& name) const;
  std::optional<bool> get_bool(const std::string& name) const;
  // Comma-separated items.
  std::optional<std::vector<std::string>> get_strings(const std::string& name) const;
  // Comma-separated numbers.
  std::optional<std::vector<double>> get_doubles(const std::string& name) const;
  bool flag(const std::string& name) const;  // a switch (add_switch) was given
  // Every value of a repeated flag (add_repeated), in order.
  std::vector<std::string> get_all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  const CLI::Option& option(const std::string& name) const;
  std::string command_;
  std::unique_ptr<CLI::App> app_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// One row of the command registry: adding a command is one cmd_*.cpp file (its declare and run)
// and one row.
struct Command {
  std::string_view name;
  std::string_view summary;
  std::string_view usage;          // the synopsis after "samplersearch NAME"
  void (*declare)(CLI::App& app);  // its description, flags and positional arguments
  int (*run)(const Args& args);
};

std::span<const Command> command_registry();

// The command's CLI11 app: "usage: samplersearch NAME USAGE", then its declarations.
std::unique_ptr<CLI::App> make_command_app(const Command& command);
// The command's --help text, generated from its declarations.
std::string command_help(const Command& command);

// Entry point: dispatches argv to a command; prints errors and maps them to exit codes.
int main(int argc, char** argv);

}  // namespace samplersearch::cli
