#include "commands.hpp"

#include <array>

#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {
namespace {

constexpr std::array kCommands{
    Command{"matrices", "print a classic sampler's Natural Inference matrices C and B",
            matrices_help, run_matrices},
    Command{"marginals", "table of row sums vs α and noise norms vs σ of a sampler's matrices",
            marginals_help, run_marginals},
    Command{"convert", "convert matrix files: JSON, HDF5, NaturalDiffusion .npz, the papers' table",
            convert_help, run_convert},
    Command{"search", "run an experiment (file or the embedded default) into its HDF5 trial store",
            search_help, run_search},
    Command{"resume", "continue a killed, interrupted or finished experiment", resume_help,
            run_resume},
    Command{"status", "progress, best value and best matrix of an experiment's store", status_help,
            run_status},
    Command{"export", "the best matrices as tables (markdown, csv, latex) or matrix files",
            export_help, run_export},
    Command{"report", "HTML report: history, heat maps, sample grids", report_help, run_report},
    Command{"evaluate", "score matrix files and classic samplers with an experiment's metric",
            evaluate_help, run_evaluate},
    Command{"sample", "draw samples of a network or experiment with a solver or matrix file",
            sample_help, run_sample},
    Command{"features", "FID Inception pool3 features, mean and covariance of a uint8 image file",
            features_help, run_features},
    Command{"fd", "Fréchet distance between two statistics files (mu, sigma)", fd_help, run_fd},
};

}  // namespace

std::span<const Command> command_registry() { return kCommands; }

}  // namespace samplersearch::cli
