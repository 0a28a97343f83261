#pragma once
// Every subcommand's flag declarations and run function; the table in commands.cpp lists them.
#include <CLI/App.hpp>

#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {

void declare_matrices(CLI::App& app);
int run_matrices(const Args& args);
void declare_marginals(CLI::App& app);
int run_marginals(const Args& args);
void declare_convert(CLI::App& app);
int run_convert(const Args& args);
void declare_search(CLI::App& app);
int run_search(const Args& args);
void declare_resume(CLI::App& app);
int run_resume(const Args& args);
void declare_status(CLI::App& app);
int run_status(const Args& args);
void declare_export(CLI::App& app);
int run_export(const Args& args);
void declare_report(CLI::App& app);
int run_report(const Args& args);
void declare_evaluate(CLI::App& app);
int run_evaluate(const Args& args);
void declare_sample(CLI::App& app);
int run_sample(const Args& args);
void declare_features(CLI::App& app);
int run_features(const Args& args);
void declare_fd(CLI::App& app);
int run_fd(const Args& args);

}  // namespace samplersearch::cli
