#include "commands.hpp"

#include <array>

#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {
namespace {

constexpr std::array kCommands{
    Command{"matrices", "print a classic sampler's Natural Inference matrices C and B",
            "--solver NAME --steps N --schedule NAME [options]", declare_matrices, run_matrices},
    Command{"marginals", "table of row sums vs α and noise norms vs σ of a sampler's matrices",
            "--solver NAME --steps N --schedule NAME [options]", declare_marginals, run_marginals},
    Command{"convert", "convert matrix files: JSON, HDF5, NaturalDiffusion .npz, the papers' table",
            "IN OUT [--schedule NAME (--discretization NAME [--t-start T --t-end E] | --t0 T)]",
            declare_convert, run_convert},
    Command{"search", "run an experiment (file or the embedded default) into its HDF5 trial store",
            "[EXPERIMENT.json] [--set FIELD=VALUE]… [flags] [--quiet|--json]", declare_search,
            run_search},
    Command{"resume", "continue a killed, interrupted or finished experiment",
            "STORE.h5 [--experiment FILE [--force]] [--set FIELD=VALUE]… [--quiet|--json]",
            declare_resume, run_resume},
    Command{"status", "progress, best value and best matrix of an experiment's store",
            "STORE.h5|SHARD.h5…|DIR [--json]", declare_status, run_status},
    Command{"export", "the best matrices as tables (markdown, csv, latex) or matrix files",
            "STORE.h5|SHARD.h5…|DIR --format FORMAT [--top K] [--out PATH]", declare_export,
            run_export},
    Command{"report", "HTML report: history, heat maps, sample grids",
            "STORE.h5|SHARD.h5…|DIR [--out DIR] [--samples N]", declare_report, run_report},
    Command{"evaluate", "score matrix files and classic samplers with an experiment's metric",
            "--matrix FILE[,FILE…] [--classic LABEL,…] [--experiment EXP.json] [--samples N] "
            "[--seed S] [--set FIELD=VALUE]…",
            declare_evaluate, run_evaluate},
    Command{"sample", "draw samples of a network or experiment with a solver or matrix file",
            "[--model FILE.pt|EXP.json] [--solver LABEL | --matrix FILE] [--steps N] "
            "[--samples S] [--seed X] [--chunk C] --out OUT",
            declare_sample, run_sample},
    Command{"features", "FID Inception pool3 features, mean and covariance of a uint8 image file",
            "--inception W.h5 --images X.h5 --out F.h5 [--batch-size B] [--device cpu] "
            "[--threads T]",
            declare_features, run_features},
    Command{"fd", "Fréchet distance between two statistics files (mu, sigma)", "A.h5 B.h5",
            declare_fd, run_fd},
};

}  // namespace

std::span<const Command> command_registry() { return kCommands; }

}  // namespace samplersearch::cli
