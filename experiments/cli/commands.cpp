#include <array>

#include "samplersearch/experiments/cli.hpp"
#include "commands.hpp"

namespace samplersearch::cli {
namespace {

constexpr std::array kCommands{
    Command{"matrices", "print a classic sampler's Natural Inference matrices C and B",
            matrices_help, run_matrices},
    Command{"marginals", "table of row sums vs α and noise norms vs σ of a sampler's matrices",
            marginals_help, run_marginals},
    Command{"convert", "convert matrix files: JSON, HDF5 and the papers' table format",
            convert_help, run_convert},
    Command{"search", "search sampler matrices with Optuna on the embedded default", search_help,
            run_search},
    Command{"features", "FID Inception pool3 features, mean and covariance of a uint8 image file",
            features_help, run_features},
    Command{"fd", "Fréchet distance between two statistics files (mu, sigma)", fd_help, run_fd},
};

}  // namespace

std::span<const Command> command_registry() { return kCommands; }

}  // namespace samplersearch::cli
