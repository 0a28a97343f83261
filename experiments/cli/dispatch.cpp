#include <iostream>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {
namespace {

std::string usage() {
  return "usage: samplersearch COMMAND [flags]   (samplersearch COMMAND --help for its flags)\n\n"
         "commands:\n" +
         registry_help(command_registry()) +
         "\nexit codes: 0 ok, 1 failure, 2 bad flags or names, 3 bad file, 130 interrupted\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << usage();
    return args.empty() ? kUsage : kOk;
  }
  try {
    const Command& cmd = registry_find(command_registry(), args[0], "command");
    const Args parsed(cmd, std::span(args).subspan(1));
    if (parsed.help_requested()) {
      std::cout << command_help(cmd);
      return kOk;
    }
    return cmd.run(parsed);
  } catch (const ConfigError& e) {
    std::cerr << "samplersearch: error: " << e.what() << "\n";
    return kUsage;
  } catch (const FileError& e) {
    std::cerr << "samplersearch: error: " << e.what() << "\n";
    return kBadFile;
  } catch (const std::exception& e) {
    std::cerr << "samplersearch: error: " << e.what() << "\n";
    return kFailure;
  }
}

}  // namespace samplersearch::cli
