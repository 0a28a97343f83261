#pragma once
// Matrix files: C, B and the times as JSON and HDF5, and the papers' table format
// (docs/equations.md §4). Parsers are functions of bytes (JSON, table) so they can be fuzzed.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/matrices.hpp"

namespace samplersearch {

// {"solver", "options", "schedule", "schedule_params", "timesteps", "alpha", "sigma",
//  "signal" (N+1 rows of N), "noise" (N+1 rows of N+1)}.
nlohmann::json matrices_to_json(const Matrices& m);
// Inverse of matrices_to_json; ConfigError naming `origin` and the field on bad input.
Matrices matrices_from_json(const nlohmann::json& j, const std::string& origin);

// The papers' table (Zheng & Zheng 2025, Tables 15–17): a header "time t_1 … t_N marginal coeff",
// then one row per target time t_k (k = 1…N): the time, C[k][·] scaled so the newest entry
// C[k][k−1] is 1, and α(t_k). Tab- or space-separated; deterministic noise column B[k][0] = σ(t_k)
// is implied.
std::string matrices_to_table(const Matrices& m, int digits = 3);
// The same table as cells (header row, then one row per t_k), each number printed fixed with
// `digits` decimals; matrices_to_table joins them with tabs.
std::vector<std::vector<std::string>> matrices_table_cells(const Matrices& m, int digits = 3);
// The divisor of row k in the papers' table: the newest entry C[k][k−1], or the row sum when that
// is ~0, or 1 when both are.
double table_row_scale(const Matrices& m, Eigen::Index k);
// Rows scaled back to sum α(t_k) as the paper says ("divide by its sum and multiply by α(t_k)").
// `times` is either all N+1 times t_0…t_N of the rows (e.g. from the discretization the table was
// made on; the table's rounded times are checked against them) or just {t_0} (the table does not
// list it), the others then read from the table. B is deterministic: B[0][0] = prior_std(t_0),
// B[k][0] = σ(t_k). The table's rounded marginal column is checked against α(t_k).
Matrices matrices_from_table(std::string_view text, std::shared_ptr<const Schedule> schedule,
                             const std::vector<double>& times, const std::string& origin);

// Files: the format is chosen by extension (.json, .h5/.hdf5, .npz NaturalDiffusion archive,
// .txt/.tsv/.md table).
void write_matrices(const Matrices& m, const std::string& path);
// Loads a matrix file written by write_matrices (json, hdf5 or npz); FileError on a bad file.
// An .npz does not name its schedule: `schedule` is checked against its node_coeff, or (nullptr)
// the schedule is inferred from it (matrices_from_naturaldiffusion); json and hdf5 ignore it.
Matrices read_matrices(const std::string& path, std::shared_ptr<const Schedule> schedule = nullptr);

}  // namespace samplersearch
