// Flag declarations on CLI11, the help layout, and Args: a parsed command line read by flag name.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {
namespace {

double parse_double(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    throw ConfigError(flag, "expected a finite number, got '" + text + "'");
  return v;
}

int parse_int(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || n < -1000000000 || n > 1000000000)
    throw ConfigError(flag, "expected an integer, got '" + text + "'");
  return static_cast<int>(n);
}

bool parse_bool(const std::string& flag, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw ConfigError(flag, "expected true or false, got '" + text + "'");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// A check run on each value while parsing; `parse` throws ConfigError naming the flag. CLI11
// catches only its own ValidationError here, so the ConfigError reaches the caller of parse().
CLI::Validator checked_by(std::function<void(const std::string&)> parse) {
  return CLI::Validator(
      [parse = std::move(parse)](std::string& text) {
        parse(text);
        return std::string();
      },
      "");
}

// The help layout: "usage: samplersearch NAME USAGE", the description, the positional arguments,
// the flags, then the footer.
class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(std::string usage) : usage_(std::move(usage)) { column_width(30); }
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    std::string out = "usage: " + usage_ + "\n" + app->get_description();
    out += make_positionals(app) + make_groups(app, mode);
    if (!app->get_footer().empty()) out += "\n" + make_footer(app);
    return out;
  }
  // A description ending in a line break (a registry listing) gets no empty line after it.
  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string text = opt->get_description();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

 private:
  std::string usage_;
};

}  // namespace

CLI::Option* add_text(CLI::App& app, const std::string& flag, const std::string& value,
                      const std::string& help) {
  return app.add_option(flag, help)->type_name(value);
}

CLI::Option* add_integer(CLI::App& app, const std::string& flag, const std::string& value,
                         const std::string& help) {
  return add_text(app, flag, value, help)->check(checked_by([flag](const std::string& text) {
    parse_int(flag, text);
  }));
}

CLI::Option* add_number(CLI::App& app, const std::string& flag, const std::string& value,
                        const std::string& help) {
  return add_text(app, flag, value, help)->check(checked_by([flag](const std::string& text) {
    parse_double(flag, text);
  }));
}

CLI::Option* add_numbers(CLI::App& app, const std::string& flag, const std::string& value,
                         const std::string& help) {
  return add_text(app, flag, value, help)->check(checked_by([flag](const std::string& text) {
    for (const std::string& item : split_commas(text)) parse_double(flag, item);
  }));
}

CLI::Option* add_boolean(CLI::App& app, const std::string& flag, const std::string& help) {
  return add_text(app, flag, "true|false", help)->check(checked_by([flag](const std::string& text) {
    parse_bool(flag, text);
  }));
}

CLI::Option* add_switch(CLI::App& app, const std::string& flag, const std::string& help) {
  return app.add_flag(flag, help);
}

CLI::Option* add_repeated(CLI::App& app, const std::string& flag, const std::string& value,
                          const std::string& help) {
  return add_text(app, flag, value, help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
}

CLI::Option* add_positionals(CLI::App& app, const std::string& name, const std::string& help) {
  return app.add_option(name, help)
      ->expected(0, CLI::detail::expected_max_vector_size)
      ->allow_extra_args()  // CLI11 feeds a positional past its minimum only with this
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::unique_ptr<CLI::App> make_command_app(const Command& command) {
  auto app = std::make_unique<CLI::App>("", std::string(command.name));
  app->formatter(std::make_shared<HelpFormatter>("samplersearch " + std::string(command.name) +
                                                 " " + std::string(command.usage)));
  app->set_help_flag("-h,--help", "print this help and exit");
  // Unknown flags are collected and reported by Args in the project's "--flag: reason" form.
  app->allow_extras(true);
  command.declare(*app);
  return app;
}

std::string command_help(const Command& command) { return make_command_app(command)->help(); }

Args::Args(const Command& command, std::span<const std::string> argv)
    : command_(command.name), app_(make_command_app(command)) {
  // CLI11 parses a reversed vector of arguments.
  std::vector<std::string> words(argv.rbegin(), argv.rend());
  try {
    app_->parse(words);
  } catch (const CLI::CallForHelp&) {
    help_ = true;
    return;
  } catch (const CLI::ParseError& e) {  // a missing value, a flag given twice
    throw ConfigError(command_, e.what());
  }
  for (const std::string& extra : app_->remaining()) {
    if (extra.size() > 1 && extra[0] == '-') {
      std::string flag = extra.substr(0, extra.find('='));
      throw ConfigError(flag, "is not a flag of '" + command_ + "' (see 'samplersearch " +
                                  command_ + " --help')");
    }
  }
  if (const auto extras = app_->remaining(); !extras.empty())
    throw ConfigError(command_, "unexpected argument '" + extras.front() + "'");
  for (const CLI::Option* opt : app_->get_options())
    if (opt->get_positional())
      for (const std::string& v : opt->results()) positional_.push_back(v);
}

Args::~Args() = default;

const CLI::Option& Args::option(const std::string& name) const {
  const CLI::Option* opt = app_->get_option_no_throw("--" + name);
  SS_CHECK(opt != nullptr) << "'" << command_ << "' reads --" << name << " but does not declare it";
  return *opt;
}

std::optional<std::string> Args::get(const std::string& name) const {
  const CLI::Option& opt = option(name);
  if (opt.count() == 0) return std::nullopt;
  return opt.results().back();
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v)
    throw ConfigError("--" + name, "is required (see 'samplersearch " + command_ + " --help')");
  return *v;
}

std::optional<double> Args::get_double(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return parse_double("--" + name, *v);
}

std::optional<int> Args::get_int(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return parse_int("--" + name, *v);
}

std::optional<bool> Args::get_bool(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return parse_bool("--" + name, *v);
}

std::optional<std::vector<std::string>> Args::get_strings(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return split_commas(*v);
}

std::optional<std::vector<double>> Args::get_doubles(const std::string& name) const {
  auto items = get_strings(name);
  if (!items) return std::nullopt;
  std::vector<double> out;
  for (const std::string& item : *items) out.push_back(parse_double("--" + name, item));
  return out;
}

bool Args::flag(const std::string& name) const { return option(name).count() > 0; }

std::vector<std::string> Args::get_all(const std::string& name) const {
  return option(name).results();
}

}  // namespace samplersearch::cli
