#pragma once
// NaturalDiffusion's coefficient files (the .npz that the Natural Inference paper's code writes and
// reads; Zheng & Zheng 2025, §4) ↔ Matrices. The archive holds three float64 arrays, in this order:
//   past_xstart_coeff  N×N      row r: weights of y_0…y_r in the input of model call r+2, i.e.
//                               x at t_{r+1} (the newest y included): C[r+1][j] = X[r][j];
//   past_epsilon_coeff N×(N+1)  (classic-sampler files) or N×N (searched files): weights of
//                               ε_0…ε_{r+1} in the same input: B[r+1][j] = E[r][j];
//   node_coeff         (N+1)×3  rows (t_k, α(t_k), σ(t_k)), k = 0…N.
// x_{t_0} = prior_std(t_0)·ε_0 is implied (B[0][0]; the paper's script starts from ε).
#include <memory>
#include <string>

#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/npz.hpp"

namespace samplersearch {

// |α − α(t)| and |σ − σ(t)| allowed between node_coeff and the schedule (the paper's files carry
// float32-rounded times: their σ differs from the float64 schedule by up to 4.4e-8).
inline constexpr double kNodeCoeffTolerance = 1e-6;

// The matrices of a NaturalDiffusion archive on `schedule`; nullptr infers the schedule: the first
// registry schedule (default parameters) whose α, σ match node_coeff. FileError(origin,
// "<array>: <reason>") for a missing array, a wrong shape, NaN/Inf, an entry right of the
// diagonal, a row of past_xstart_coeff that sums to 0, times that do not decrease, or α, σ that
// disagree with the schedule by more than kNodeCoeffTolerance: the file is then refused (naming
// the row and both values), never read on a schedule it was not made for. The paper's DDPM/DDIM
// files end at a "denoise to zero" node t = −1 (α = 1, σ = 0) that ddpm-discrete does not have:
// they are refused by that check. solver = "naturaldiffusion"; options keep node_coeff's α, σ and
// past_epsilon_coeff's width so that matrices_to_naturaldiffusion writes the same bytes back.
Matrices matrices_from_naturaldiffusion(const NpzArchive& archive,
                                        std::shared_ptr<const Schedule> schedule,
                                        const std::string& origin);

// The archive of `m`: past_epsilon_coeff N×N when ε_N is unused (or the imported width), else
// N×(N+1); node_coeff's α, σ from the imported file when they still match the schedule, else from
// the schedule. ConfigError when B[0][0] is not prior_std(t_0) (the format cannot say it).
NpzArchive matrices_to_naturaldiffusion(const Matrices& m);

}  // namespace samplersearch
