// Exported models (scripts/export_model): the metadata inside the TorchScript file describes the
// network, so loading needs only the path. One Gaussian mixture exported as an eps-, v-, x0-,
// score- and flow-predictor samples exactly like the native mixture model for every classic
// sampler; every broken field or output is a FileError naming the file and the field.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/model_metadata.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

class ExportedModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("samplersearch_test_exported_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const char* python = std::getenv("SAMPLERSEARCH_PYTHON");
    const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
    ASSERT_NE(source, nullptr) << "SAMPLERSEARCH_SOURCE_DIR is set by ctest";
    const std::string cmd = std::string("'") + (python && *python ? python : "/usr/bin/python3") +
                            "' '" + source + "/tests/samplers/make_exported_models.py' '" +
                            dir_->string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string path(const std::string& name) { return (*dir_ / (name + ".pt")).string(); }
  // The message of the FileError load_exported_model throws for `name` ("" if it loads).
  static std::string load_error(const std::string& name) {
    try {
      load_exported_model(path(name));
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), path(name));
      return e.what();
    }
    return "";
  }
  static fs::path* dir_;
};
fs::path* ExportedModels::dir_ = nullptr;

// The native model of the mixture stored in the file's metadata (extra.mixture).
GaussianMixtureModel native_mixture(const ModelMetadata& m,
                                    std::shared_ptr<const Schedule> schedule) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const auto& mix = m.extra.at("mixture");
  const auto w = mix.at("weights").get<std::vector<double>>();
  const auto s = mix.at("stds").get<std::vector<double>>();
  std::vector<double> means;
  for (const auto& row : mix.at("means"))
    for (double v : row.get<std::vector<double>>()) means.push_back(v);
  const auto k = static_cast<int64_t>(w.size());
  GaussianMixture g{at::tensor(w, f64), at::tensor(means, f64).view({k, -1}), at::tensor(s, f64)};
  return GaussianMixtureModel(g, std::move(schedule), m.sample_shape);
}

TEST_F(ExportedModels, MetadataDescribesTheNetwork) {
  const ExportedModel e = load_exported_model(path("mixture_v"));
  EXPECT_EQ(e.metadata.parameterization, "v");
  EXPECT_EQ(e.metadata.time_input, "999t");
  EXPECT_EQ(e.metadata.schedule, "vp-linear");
  EXPECT_EQ(e.schedule->name(), "vp-linear");
  EXPECT_DOUBLE_EQ(e.metadata.schedule_params.at("beta_max").get<double>(), 20.0);
  EXPECT_EQ(e.metadata.sample_shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(e.model->sample_shape(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(e.metadata.value_low, -1.0);
  EXPECT_EQ(e.metadata.value_high, 1.0);
  EXPECT_EQ(e.metadata.classes, 0);
  EXPECT_FALSE(read_model_metadata(path("no_metadata")).has_value());
}

// Every classic sampler at 5 and 10 steps, float64: exported (every parameterization, time feeds
// t, 999t and σ/α) and native mixture give the same samples to 1e-6.
TEST_F(ExportedModels, EveryParameterizationSamplesLikeTheNativeMixture) {
  double worst = 0;
  std::string worst_case;
  int compared = 0;
  for (const std::string kind : {"eps", "v", "x0", "score", "flow"}) {
    const ExportedModel e = load_exported_model(path("mixture_" + kind));
    const GaussianMixtureModel native = native_mixture(e.metadata, e.schedule);
    const SampleLayout layout{e.metadata.sample_shape, at::kDouble};
    for (const ClassicSampler& sampler : classic_catalogue()) {
      if (!sampler.published.empty()) continue;  // published matrices: their own schedule and N
      for (int steps : {5, 10}) {
        const SolverPlan plan{
            e.schedule, TimeGrid("time-quadratic", {e.schedule->t_max(), e.schedule->t_min()}),
            steps, sampler.options};
        Matrices m;
        try {
          m = classic_matrices(sampler, plan);
        } catch (const ConfigError&) {
          continue;  // e.g. a multistep order above the step count
        }
        const at::Tensor a = run_engine(m, native, 11, 0, 16, layout);
        const at::Tensor b = run_engine(m, *e.model, 11, 0, 16, layout);
        const double diff = (a - b).abs().max().item<double>();
        EXPECT_LE(diff, 1e-6) << kind << " " << sampler.label << " N=" << steps;
        ++compared;
        if (diff > worst) {
          worst = diff;
          worst_case = kind + " " + sampler.label + " N=" + std::to_string(steps);
        }
      }
    }
  }
  EXPECT_GE(compared, 5 * 10);
  std::cout << "[ measured ] exported vs native mixture: " << compared
            << " sampler runs, largest difference " << worst << " (" << worst_case << ")\n";
}

TEST_F(ExportedModels, BrokenMetadataNamesTheFileAndTheField) {
  EXPECT_NE(load_error("no_metadata").find("has no samplersearch.json"), std::string::npos);
  for (const std::string field : {"parameterization", "time_input", "schedule", "sample_shape",
                                  "value_range", "classes", "format"})
    EXPECT_NE(load_error("missing_" + field).find(": samplersearch.json." + field + ": is missing"),
              std::string::npos)
        << field;
  EXPECT_NE(load_error("bad_parameterization")
                .find("samplersearch.json.parameterization: unknown name 'noise' (valid: x0, eps, "
                      "score, v, flow"),
            std::string::npos);
  EXPECT_NE(load_error("bad_time_input")
                .find("samplersearch.json.time_input: unknown name '1000t' (valid: "),
            std::string::npos);
  EXPECT_NE(load_error("bad_schedule")
                .find("samplersearch.json.schedule.name: unknown name 'vp-square' (valid: "),
            std::string::npos);
  EXPECT_NE(
      load_error("bad_shape").find("samplersearch.json.sample_shape: must hold positive integers"),
      std::string::npos);
  EXPECT_NE(load_error("bad_range").find("samplersearch.json.value_range: must be [low, high]"),
            std::string::npos);
  EXPECT_NE(load_error("bad_label").find("samplersearch.json.class_label: is missing"),
            std::string::npos);
  EXPECT_NE(load_error("flow_on_vp")
                .find("samplersearch.json.parameterization: flow is defined on the flow"),
            std::string::npos);
}

TEST_F(ExportedModels, OutputsBreakingTheContractOnTheProbeAreFileErrors) {
  EXPECT_NE(load_error("float32_out").find("forward returned dtype Float"), std::string::npos)
      << load_error("float32_out");
  EXPECT_NE(load_error("float32_out").find("(expected the input's dtype)"), std::string::npos);
  EXPECT_NE(load_error("nan_out").find("forward returned NaN or Inf on a probe batch"),
            std::string::npos);
  EXPECT_NE(load_error("wrong_shape").find("forward returned shape [2, 1, 1, 2]"),
            std::string::npos)
      << load_error("wrong_shape");
}

// model.dtype: the float64 mixture network cast to float32 / bfloat16 and run with the samples
// and sums in float64 agrees with itself in float64 to within each type's rounding amplified by
// the network: its posterior weights are a softmax of logits of size |x − αμ|²/(2v), up to ~50
// here, so a unit roundoff u (2^-24 float32, 2^-9 bfloat16) moves them by ~50u, i.e. 3e-6 and
// 0.1 in a value of size 1 (measured: 5.5e-6 and 0.126). Half on CPU either agrees to its own
// rounding (u = 2^-11) or is refused at the probe with a FileError naming model.dtype.
TEST_F(ExportedModels, NetworkDtypesAgreeWithFloat64) {
  const ExportedModel reference = load_exported_model(path("mixture_eps"));
  const SampleLayout f64{reference.metadata.sample_shape, at::kDouble};
  struct Case {
    at::ScalarType dtype;
    double tolerance;
  };
  for (const Case c : {Case{at::kFloat, 1e-4}, Case{at::kBFloat16, 0.25}, Case{at::kHalf, 0.05}}) {
    SCOPED_TRACE(c10::toString(c.dtype));
    std::optional<ExportedModel> cast;
    try {
      cast.emplace(load_exported_model(path("mixture_eps"), "cpu", c.dtype));
    } catch (const FileError& e) {
      EXPECT_EQ(c.dtype, at::kHalf) << e.what();
      EXPECT_NE(std::string(e.what()).find("(model.dtype Half: the cast module may lack kernels "
                                           "for it on cpu)"),
                std::string::npos)
          << e.what();
      std::cout << "[ measured ] " << c10::toString(c.dtype) << " refused: " << e.what() << "\n";
      continue;
    }
    for (const char* label : {"ddim", "dpmsolver++(2M)"}) {
      const ClassicSampler& sampler = find_classic(label, "test");
      const SolverPlan plan{
          reference.schedule,
          TimeGrid("time-quadratic", {reference.schedule->t_max(), reference.schedule->t_min()}),
          10, sampler.options};
      const Matrices m = classic_matrices(sampler, plan);
      const at::Tensor a = run_engine(m, *reference.model, 11, 0, 64, f64);
      const at::Tensor b = run_engine(m, *cast->model, 11, 0, 64, f64);
      EXPECT_EQ(b.scalar_type(), at::kDouble);
      const double diff = (a - b).abs().max().item<double>();
      EXPECT_LE(diff, c.tolerance) << label;
      EXPECT_GT(diff, 0.0) << label << ": the cast changed nothing";
      std::cout << "[ measured ] network in " << c10::toString(c.dtype) << ", " << label
                << ": largest difference to float64 " << diff << "\n";
    }
  }
}

// model.sum_dtype: the same network with samples and sums in float32 vs float64.
TEST_F(ExportedModels, SumsInFloat32AgreeWithFloat64) {
  const ExportedModel e = load_exported_model(path("mixture_eps"));
  const ClassicSampler& sampler = find_classic("dpmsolver++(3M)", "test");
  const SolverPlan plan{e.schedule,
                        TimeGrid("time-quadratic", {e.schedule->t_max(), e.schedule->t_min()}), 10,
                        sampler.options};
  const Matrices m = classic_matrices(sampler, plan);
  const at::Tensor a =
      run_engine(m, *e.model, 11, 0, 64, SampleLayout{e.metadata.sample_shape, at::kDouble});
  const at::Tensor b =
      run_engine(m, *e.model, 11, 0, 64, SampleLayout{e.metadata.sample_shape, at::kFloat});
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  const double diff = (a - b.to(at::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4);
  EXPECT_GT(diff, 0.0);
  std::cout << "[ measured ] sums in float32 vs float64: largest difference " << diff << "\n";
}

}  // namespace
}  // namespace samplersearch
