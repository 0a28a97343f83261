#pragma once
// The time steps of a sampler as the lists that hosts taking only a noise schedule accept
// (k-diffusion's `sigmas`, Align Your Steps / GITS lists): σ(t_k)/α(t_k) and t_k. Everything but
// the times is lost in such a list (see kSigmaListNote).
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "samplersearch/samplers/matrices.hpp"

namespace samplersearch {

// What a host loses when it takes the sigma list instead of the matrix file.
extern const char* const kSigmaListNote;

// {"schedule", "schedule_params", "steps", "times_searched", "t" (t_0…t_N), "sigmas" (σ/α, the
// k-diffusion convention: x = x0 + σ·ε), "alpha", "sigma", "note"}.
nlohmann::json matrices_to_sigma_list(const Matrices& m);
// The same as text: comment lines, then `sigmas = [...]` and `t = [...]` (Python list syntax,
// 17 significant digits).
std::string sigma_list_text(const Matrices& m, const std::string& label);

}  // namespace samplersearch
