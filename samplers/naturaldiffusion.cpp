// NaturalDiffusion's .npz coefficient files ↔ Matrices (see naturaldiffusion.hpp for the layout).
#include "samplersearch/samplers/naturaldiffusion.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

constexpr const char* kX = "past_xstart_coeff";
constexpr const char* kE = "past_epsilon_coeff";
constexpr const char* kNode = "node_coeff";

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string shape_text(const NpyArray& a) {
  std::string out;
  for (size_t i = 0; i < a.shape.size(); ++i) out += (i ? "×" : "") + std::to_string(a.shape[i]);
  return a.shape.empty() ? "a scalar" : out;
}

// Row-major 2-D view of an array with `rows` rows.
double at(const NpyArray& a, int64_t r, int64_t c) {
  return a.data[static_cast<size_t>(r * a.shape[1] + c)];
}

const NpyArray& require(const NpzArchive& archive, const char* name, const std::string& origin) {
  if (const NpyArray* a = find_array(archive, name)) return *a;
  std::string found;
  for (const auto& [n, a] : archive) found += (found.empty() ? "" : ", ") + n;
  throw FileError(origin, std::string("has no array '") + name +
                              "' (a NaturalDiffusion file holds past_xstart_coeff, "
                              "past_epsilon_coeff, node_coeff; this one holds " +
                              (found.empty() ? "nothing" : found) + ")");
}

void check_finite(const NpyArray& a, const char* name, const std::string& origin) {
  for (size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i])) {
      const auto cols = static_cast<size_t>(a.shape.size() == 2 ? a.shape[1] : 1);
      throw FileError(origin, std::string(name) + ": entry [" + std::to_string(i / cols) + "][" +
                                  std::to_string(i % cols) + "] is " + num(a.data[i]) +
                                  " (must be finite)");
    }
}

// The first row k whose (α, σ) in node_coeff differ from `s` by more than the tolerance, or −1.
int64_t first_mismatch(const NpyArray& node, const Schedule& s) {
  for (int64_t k = 0; k < node.shape[0]; ++k) {
    const double t = at(node, k, 0);
    if (!(std::abs(at(node, k, 1) - s.alpha(t)) <= kNodeCoeffTolerance &&
          std::abs(at(node, k, 2) - s.sigma(t)) <= kNodeCoeffTolerance))
      return k;
  }
  return -1;
}

std::shared_ptr<const Schedule> infer_schedule(const NpyArray& node, const std::string& origin) {
  std::string names;
  for (const ScheduleEntry& e : schedule_registry()) {
    auto s = make_schedule(e.name);
    if (first_mismatch(node, *s) < 0) return s;
    names += (names.empty() ? "" : ", ") + std::string(e.name);
  }
  throw FileError(origin, std::string(kNode) +
                              ": its α, σ match no schedule with default parameters (" + names +
                              "); name the schedule the file was made for");
}

std::vector<double> option_list(const json& options, const char* key, size_t size) {
  if (!options.is_object() || !options.contains(key) || !options[key].is_array() ||
      options[key].size() != size)
    return {};
  std::vector<double> out;
  for (const json& v : options[key]) {
    if (!v.is_number()) return {};
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

Matrices matrices_from_naturaldiffusion(const NpzArchive& archive,
                                        std::shared_ptr<const Schedule> schedule,
                                        const std::string& origin) {
  const NpyArray& x = require(archive, kX, origin);
  const NpyArray& e = require(archive, kE, origin);
  const NpyArray& node = require(archive, kNode, origin);
  if (node.shape.size() != 2 || node.shape[1] != 3 || node.shape[0] < 2)
    throw FileError(origin, std::string(kNode) +
                                ": must be (N+1)×3 rows of (t, α, σ) with N >= 1, is " +
                                shape_text(node));
  const int64_t n = node.shape[0] - 1;
  const std::string nn = std::to_string(n);
  if (x.shape != std::vector<int64_t>{n, n})
    throw FileError(origin, std::string(kX) + ": must be N×N = " + nn + "×" + nn +
                                " (N + 1 = " + std::to_string(n + 1) + " rows of node_coeff), is " +
                                shape_text(x));
  if (e.shape != std::vector<int64_t>{n, n} && e.shape != std::vector<int64_t>{n, n + 1})
    throw FileError(origin, std::string(kE) + ": must be N×(N+1) = " + nn + "×" +
                                std::to_string(n + 1) + " or N×N = " + nn + "×" + nn + ", is " +
                                shape_text(e));
  check_finite(node, kNode, origin);
  check_finite(x, kX, origin);
  check_finite(e, kE, origin);
  for (int64_t r = 0; r < n; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < n; ++c) {
      if (c > r && at(x, r, c) != 0.0)
        throw FileError(origin, std::string(kX) + ": entry [" + std::to_string(r) + "][" +
                                    std::to_string(c) + "] = " + num(at(x, r, c)) +
                                    " is right of the diagonal (row " + std::to_string(r) +
                                    " may weight y_0…y_" + std::to_string(r) + " only)");
      sum += at(x, r, c);
    }
    if (std::abs(sum) < 1e-12)
      throw FileError(origin, std::string(kX) + ": row " + std::to_string(r) +
                                  " sums to 0 (its rows sum to α(t) of the next time)");
    for (int64_t c = r + 2; c < e.shape[1]; ++c)
      if (at(e, r, c) != 0.0)
        throw FileError(origin, std::string(kE) + ": entry [" + std::to_string(r) + "][" +
                                    std::to_string(c) + "] = " + num(at(e, r, c)) +
                                    " is right of the diagonal (row " + std::to_string(r) +
                                    " may weight ε_0…ε_" + std::to_string(r + 1) + " only)");
  }
  for (int64_t k = 0; k < n; ++k)
    if (!(at(node, k + 1, 0) < at(node, k, 0)))
      throw FileError(origin, std::string(kNode) + ": times must decrease, row " +
                                  std::to_string(k + 1) + " has t = " + num(at(node, k + 1, 0)) +
                                  " after t = " + num(at(node, k, 0)));
  if (!schedule) {
    schedule = infer_schedule(node, origin);
  } else if (const int64_t k = first_mismatch(node, *schedule); k >= 0) {
    const double t = at(node, k, 0);
    throw FileError(
        origin, std::string(kNode) + ": row " + std::to_string(k) + " (t, α, σ) = (" + num(t) +
                    ", " + num(at(node, k, 1)) + ", " + num(at(node, k, 2)) + ") but " +
                    std::string(schedule->name()) + " has α = " + num(schedule->alpha(t)) +
                    ", σ = " + num(schedule->sigma(t)) + " (tolerance " + num(kNodeCoeffTolerance) +
                    "): the file was made for another schedule");
  }
  Matrices m;
  m.schedule = schedule;
  json alpha = json::array(), sigma = json::array();
  for (int64_t k = 0; k <= n; ++k) {
    m.times.push_back(at(node, k, 0));
    alpha.push_back(at(node, k, 1));
    sigma.push_back(at(node, k, 2));
  }
  m.signal = RowMatrix::Zero(n + 1, n);
  m.noise = RowMatrix::Zero(n + 1, n + 1);
  m.noise(0, 0) = schedule->prior_std(m.times[0]);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c <= r; ++c) m.signal(r + 1, c) = at(x, r, c);
    for (int64_t c = 0; c < e.shape[1]; ++c) m.noise(r + 1, c) = at(e, r, c);
  }
  m.solver = "naturaldiffusion";
  m.options = {{"node_coeff_alpha", alpha},
               {"node_coeff_sigma", sigma},
               {"past_epsilon_coeff_columns", e.shape[1]}};
  try {
    m.validate(origin);
  } catch (const ConfigError& err) {
    throw FileError(origin, err.what());
  }
  return m;
}

NpzArchive matrices_to_naturaldiffusion(const Matrices& m) {
  m.validate("naturaldiffusion export");
  const int64_t n = m.steps();
  const double prior = m.schedule->prior_std(m.times[0]);
  if (std::abs(m.noise(0, 0) - prior) > 1e-12 * std::max(1.0, std::abs(prior)))
    throw ConfigError("noise", "B[0][0] = " + num(m.noise(0, 0)) +
                                   " cannot be written: a NaturalDiffusion file starts from "
                                   "x_{t_0} = prior_std·ε_0 = " +
                                   num(prior) + "·ε_0");
  bool uses_last = false;
  for (int64_t k = 0; k <= n; ++k) uses_last = uses_last || m.noise(k, n) != 0.0;
  int64_t width = n;
  if (m.options.is_object() && m.options.value("past_epsilon_coeff_columns", 0) == n + 1)
    width = n + 1;
  if (uses_last) width = n + 1;

  std::vector<double> alpha = option_list(m.options, "node_coeff_alpha", m.times.size());
  std::vector<double> sigma = option_list(m.options, "node_coeff_sigma", m.times.size());
  for (size_t k = 0; k < m.times.size() && !alpha.empty() && !sigma.empty(); ++k)
    if (!(std::abs(alpha[k] - m.schedule->alpha(m.times[k])) <= kNodeCoeffTolerance &&
          std::abs(sigma[k] - m.schedule->sigma(m.times[k])) <= kNodeCoeffTolerance))
      alpha.clear();
  if (alpha.empty() || sigma.empty()) {
    alpha.clear();
    sigma.clear();
    for (double t : m.times) {
      alpha.push_back(m.schedule->alpha(t));
      sigma.push_back(m.schedule->sigma(t));
    }
  }
  NpyArray x{{n, n}, std::vector<double>(static_cast<size_t>(n * n), 0.0)};
  NpyArray e{{n, width}, std::vector<double>(static_cast<size_t>(n * width), 0.0)};
  NpyArray node{{n + 1, 3}, {}};
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c <= r; ++c) x.data[static_cast<size_t>(r * n + c)] = m.signal(r + 1, c);
    for (int64_t c = 0; c < width; ++c)
      e.data[static_cast<size_t>(r * width + c)] = m.noise(r + 1, c);
  }
  for (size_t k = 0; k < m.times.size(); ++k)
    node.data.insert(node.data.end(), {m.times[k], alpha[k], sigma[k]});
  return {{kX, std::move(x)}, {kE, std::move(e)}, {kNode, std::move(node)}};
}

}  // namespace samplersearch
