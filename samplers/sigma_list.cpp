// Sigma lists: the time steps of a sampler for hosts that take only a noise schedule.
#include "samplersearch/samplers/sigma_list.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace samplersearch {
namespace {

bool times_searched(const Matrices& m) {
  return m.options.is_object() && m.options.value("times", "") == "free";
}

std::string python_list(const std::vector<double>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", values[i]);
    out += (i ? ", " : "") + std::string(buf);
  }
  return out + "]";
}

std::vector<double> kdiffusion_sigmas(const Matrices& m) {
  std::vector<double> out;
  for (double t : m.times) out.push_back(m.schedule->sigma(t) / m.schedule->alpha(t));
  return out;
}

}  // namespace

const char* const kSigmaListNote =
    "Only the time steps: a host that takes a sigma list runs its own solver (Euler, "
    "DPM-Solver++(2M), ...) on them, so the coefficient matrices C (how the past x0-predictions "
    "are combined) and B (the noise) are lost, and with them whatever the search found besides "
    "the times. N model calls at sigmas[0..N-1] end at sigmas[N]; hosts whose lists end in 0 "
    "(k-diffusion's get_sigmas_*) add one call when 0 is appended, or keep N calls when the last "
    "value is replaced by 0. To run the searched sampler itself, load the matrix file "
    "(.json, .h5, .npz) with the samplersearch_py package.";

nlohmann::json matrices_to_sigma_list(const Matrices& m) {
  std::vector<double> alpha, sigma;
  for (double t : m.times) {
    alpha.push_back(m.schedule->alpha(t));
    sigma.push_back(m.schedule->sigma(t));
  }
  return {{"schedule", std::string(m.schedule->name())},
          {"schedule_params", m.schedule->params()},
          {"steps", m.steps()},
          {"times_searched", times_searched(m)},
          {"t", m.times},
          {"sigmas", kdiffusion_sigmas(m)},
          {"alpha", alpha},
          {"sigma", sigma},
          {"note", kSigmaListNote}};
}

std::string sigma_list_text(const Matrices& m, const std::string& label) {
  std::ostringstream out;
  out << "# " << label << ": " << m.steps() << " steps on " << m.schedule->name() << ' '
      << m.schedule->params().dump() << (times_searched(m) ? ", times found by the search" : "")
      << "\n# sigmas = σ(t)/α(t) (k-diffusion / Align Your Steps convention), t = the schedule's "
         "time\n";
  std::istringstream note(kSigmaListNote);
  std::string line, word;
  for (std::string w; note >> w;) {
    if (line.size() + w.size() > 96) {
      out << "#" << line << '\n';
      line.clear();
    }
    line += ' ' + w;
  }
  if (!line.empty()) out << "#" << line << '\n';
  out << "sigmas = " << python_list(kdiffusion_sigmas(m)) << '\n'
      << "t = " << python_list(m.times) << '\n';
  return out.str();
}

}  // namespace samplersearch
