// The C++ side of the Python package's agreement tests (python/tests/test_agreement.py):
//   engine_reference DIR
// with DIR/x0.pt and DIR/eps.pt TorchScript models (fed t, predicting x0 / ε, float64) writes
//   DIR/searched.json  a point of the `matrix` space (stochastic, times moved), as a search stores
//   it; DIR/classic.h5     DPM-Solver++(2M); DIR/gdr.npz        the (γ, δ, ρ) step of
//   docs/equations.md §5 with ρ = 1 (stochastic); DIR/<file>.samples.h5  `samples` [16, 3, 4] of
//   the engine in float64 (searched and gdr with the
//                      ε model, classic with the x0 model, noise stream 7) and every noise it
//                      drew, `noise` [N+1, 16, 3, 4];
//   DIR/schedules.json α, σ, λ, t(λ) and prior_std of every registry schedule at a few times.
// All matrices are on vp-linear with 6 steps.
#include <ATen/ATen.h>
#include <H5Cpp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/samplers/torchscript_model.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

constexpr int kSteps = 6;
const std::vector<int64_t> kShape = {3, 4};

void write_matrix_files(const std::string& dir) {
  auto vp = make_schedule("vp-linear");
  const auto times = make_timesteps("time-quadratic", *vp, kSteps, {1.0, 1e-3});
  // A point of the stochastic matrix space with moved times, as a search would store it.
  const auto space =
      make_space("matrix", SpaceConfig{vp, times, {{"stochastic", true}, {"times", "free"}}, {}});
  json values = json::object();
  int i = 0;
  for (const ParamSpec& p : space->params()) {
    const double frac = 0.35 + 0.3 * ((i++ * 7) % 11) / 10.0;
    values[p.name] = p.low + (p.high - p.low) * frac;
  }
  Matrices searched = space->to_matrices(values);
  searched.solver = "searched";
  write_matrices(searched, dir + "/searched.json");

  SolverOptions dpm;
  dpm.order = 2;
  dpm.method = "multistep";
  write_matrices(
      solver_matrices("dpmsolver++",
                      SolverPlan{vp, TimeGrid("time-quadratic", {1.0, 1e-3}), kSteps, dpm}),
      dir + "/classic.h5");

  SolverOptions gdr;
  gdr.gamma = {1.25};
  gdr.delta = {0.95};
  gdr.rho = {1.0};
  write_matrices(
      solver_matrices("generalized",
                      SolverPlan{vp, TimeGrid("logsnr-uniform", {1.0, 1e-3}), kSteps, gdr}),
      dir + "/gdr.npz");
}

void write_dataset(H5::H5File& f, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  f.createDataSet(name, H5::PredType::IEEE_F64LE, space)
      .write(c.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
}

void sample(const std::string& model_path, const std::string& prediction,
            const std::string& matrix_path, const std::string& out, int64_t count, uint64_t seed) {
  const Matrices m = read_matrices(matrix_path);
  TorchScriptSpec spec;
  spec.path = model_path;
  spec.parameterization = prediction == "x0" ? Parameterization::x0 : Parameterization::eps;
  spec.time_input = TimeInput::t;
  spec.sample_shape = kShape;
  const auto model = load_torchscript_model(spec, m.schedule);
  const SampleLayout layout{kShape, at::kDouble};
  const at::Tensor samples = run_engine(m, *model, seed, 0, count, layout);
  std::vector<at::Tensor> noise;
  for (int64_t j = 0; j <= m.steps(); ++j) noise.push_back(noise_batch(seed, 0, count, j, layout));
  H5::H5File f(out, H5F_ACC_TRUNC);
  write_dataset(f, "samples", samples);
  write_dataset(f, "noise", at::stack(noise));
}

void schedules(const std::string& out) {
  json j = json::object();
  for (const ScheduleEntry& e : schedule_registry()) {
    auto s = make_schedule(e.name);
    json rows = json::array();
    for (double f : {0.0, 0.1, 0.37, 0.5, 0.93, 1.0}) {
      const double t = s->t_min() + f * (s->t_max() - s->t_min());
      const double lambda = s->lambda(t);
      rows.push_back({{"t", t},
                      {"alpha", s->alpha(t)},
                      {"sigma", s->sigma(t)},
                      {"lambda", lambda},
                      {"t_of_lambda", s->t_of_lambda(lambda)},
                      {"prior_std", s->prior_std(t)}});
    }
    j[std::string(e.name)] = {{"params", s->params()}, {"values", rows}};
  }
  std::ofstream(out) << j.dump(2) << '\n';
}

}  // namespace
}  // namespace samplersearch

int main(int argc, char** argv) {
  using namespace samplersearch;
  if (argc != 2) {
    std::fprintf(stderr, "usage: engine_reference DIR (see the comment at the top)\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    write_matrix_files(dir);
    for (const auto& [file, prediction] :
         {std::pair<std::string, std::string>{"searched.json", "eps"},
          {"classic.h5", "x0"},
          {"gdr.npz", "eps"}})
      sample(dir + "/" + prediction + ".pt", prediction, dir + "/" + file,
             dir + "/" + file + ".samples.h5", 16, 7);
    schedules(dir + "/schedules.json");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_reference: %s\n", e.what());
    return 1;
  }
  return 0;
}
