#pragma once
// Every subcommand's help and run function; the table in commands.cpp lists them.
#include <string>

#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {

std::string matrices_help();
int run_matrices(Args& args);
std::string marginals_help();
int run_marginals(Args& args);
std::string convert_help();
int run_convert(Args& args);
std::string search_help();
int run_search(Args& args);
std::string resume_help();
int run_resume(Args& args);
std::string status_help();
int run_status(Args& args);
std::string export_help();
int run_export(Args& args);
std::string report_help();
int run_report(Args& args);
std::string evaluate_help();
int run_evaluate(Args& args);
std::string sample_help();
int run_sample(Args& args);
std::string features_help();
int run_features(Args& args);
std::string fd_help();
int run_fd(Args& args);

}  // namespace samplersearch::cli
