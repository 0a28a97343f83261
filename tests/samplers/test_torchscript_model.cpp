// TorchScript models: modules scripted by PyTorch at test time (one /usr/bin/python3 run) load as
// x0-models; an exact eps-predictor for Gaussian data gives E[x0|x_t] in closed form; broken
// modules and files are FileErrors naming the path and what is wrong.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/torchscript_model.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

constexpr double kS = 0.7;  // std of the Gaussian data N(0, s²I) of the GaussEps modules

// Writes every module the tests load into argv[1]. GaussEps is the exact ε-prediction for data
// N(0, s²I) on vp-linear fed τ = 999·t: ε̂ = σx/(α²s² + σ²), so x0 = (x − σε̂)/α = αs²x/(α²s²+σ²).
constexpr const char* kScript = R"PY(
import os, sys, torch

class GaussEps(torch.nn.Module):
    def __init__(self, s: float):
        super().__init__()
        self.s = s
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        assert tau.dim() == 1 and tau.size(0) == x.size(0), "tau must have shape [batch]"
        assert tau.dtype == x.dtype, "tau must have the dtype of x"
        t = tau / 999.0
        a = torch.exp(-0.25 * 19.9 * t * t - 0.5 * 0.1 * t)
        sig = torch.sqrt(1.0 - a * a)
        while a.dim() < x.dim():
            a = a.unsqueeze(-1)
            sig = sig.unsqueeze(-1)
        return sig * x / (a * a * self.s * self.s + sig * sig)

class GaussEpsParam(torch.nn.Module):  # the same with s a float32 parameter
    def __init__(self, s: float):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(s, dtype=torch.float32))
        self.inner = GaussEps(1.0)
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32, "x must come in the parameters' dtype"
        return self.inner(x / self.s, tau)

class TauEcho(torch.nn.Module):  # returns τ broadcast to the shape of x
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) + tau.view([-1] + [1] * (x.dim() - 1))

class Flatten(torch.nn.Module):
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

class OneArg(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

class Pair(torch.nn.Module):
    def forward(self, x: torch.Tensor, tau: torch.Tensor):
        return x, tau

class Needs48(torch.nn.Module):
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.size(0), 48).reshape(x.shape)

class HugeLate(torch.nn.Module):  # asks for 4 TiB of float32 at τ < 100 (late steps only)
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(tau.min() < 100.0):
            return torch.empty([1 << 40], dtype=x.dtype)[: x.numel()].view(x.shape)
        return x

class ShrinkLate(torch.nn.Module):  # drops all but one batch row at τ < 100
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(tau.min() < 100.0):
            return x[:1]
        return x

class RaiseLate(torch.nn.Module):  # raises at τ < 100
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(tau.min() < 100.0):
            raise RuntimeError("late steps are not supported")
        return x

class NanLate(torch.nn.Module):  # NaN at τ < 100
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(tau.min() < 100.0):
            return torch.full_like(x, float("nan"))
        return x

out = sys.argv[1]
for name, m in [("huge_late", HugeLate()), ("shrink_late", ShrinkLate()),
                ("raise_late", RaiseLate()), ("nan_late", NanLate()),("gauss", GaussEps(0.7)), ("gauss_param", GaussEpsParam(0.7)),
                ("tau", TauEcho()), ("flatten", Flatten()), ("one_arg", OneArg()),
                ("pair", Pair()), ("needs48", Needs48())]:
    torch.jit.save(torch.jit.script(m), os.path.join(out, name + ".pt"))
)PY";

class TorchScriptModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("samplersearch_test_torchscript_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "make_modules.py") << kScript;
    std::ofstream(*dir_ / "garbage.pt") << "this is not a zip archive\n";
    const char* python = std::getenv("SAMPLERSEARCH_PYTHON");
    const std::string cmd = std::string("'") + (python && *python ? python : "/usr/bin/python3") +
                            "' '" + (*dir_ / "make_modules.py").string() + "' '" + dir_->string() +
                            "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    // The 4 TiB request must fail whatever the kernel's overcommit setting (64 GiB of address
    // space is far more than LibTorch needs). Under AddressSanitizer, which reserves terabytes of
    // shadow address space, the limit would break ASan itself; there its allocator refuses the
    // request instead (allocator_may_return_null=1, set by scripts/sanitizers).
#if !defined(__SANITIZE_ADDRESS__)
    const rlimit as{64ull << 30, 64ull << 30};
    ASSERT_EQ(setrlimit(RLIMIT_AS, &as), 0);
#endif
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string path(const std::string& name) { return (*dir_ / (name + ".pt")).string(); }
  static TorchScriptSpec spec(const std::string& name, Parameterization p = Parameterization::eps,
                              TimeInput time = TimeInput::t999) {
    return {path(name), p, time, {3, 4, 4}, std::nullopt};
  }
  // The message of the FileError that loading `s` throws ("" if it loads).
  static std::string load_error(const TorchScriptSpec& s) {
    try {
      load_torchscript_model(s, make_schedule("vp-linear"));
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), s.path);
      return e.what();
    }
    return "";
  }
  static fs::path* dir_;
};
fs::path* TorchScriptModel::dir_ = nullptr;

double vp_alpha(double t) { return std::exp(-0.25 * 19.9 * t * t - 0.5 * 0.1 * t); }

// E[x0 | x_t = x] for x0 ~ N(0, s²I) on vp-linear, written out.
at::Tensor gauss_x0(const at::Tensor& x, double t) {
  const double a = vp_alpha(t), var = 1 - a * a;
  return x.to(at::kDouble) * (a * kS * kS / (a * a * kS * kS + var));
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST_F(TorchScriptModel, ExactEpsModelGivesTheGaussianPosteriorMean) {
  const auto model = load_torchscript_model(spec("gauss"), make_schedule("vp-linear"));
  EXPECT_EQ(model->sample_shape(), (std::vector<int64_t>{3, 4, 4}));
  const at::Tensor x =
      at::randn({5, 3, 4, 4}, at::make_generator<at::CPUGeneratorImpl>(1), at::kDouble);
  double worst = 0, worst_float = 0;
  for (double t : {1e-3, 0.1, 0.5, 0.9, 1.0}) {
    const at::Tensor y = model->predict_x0(x, t);
    EXPECT_EQ(y.scalar_type(), at::kDouble);
    EXPECT_EQ(y.sizes(), x.sizes());
    worst = std::max(worst, max_abs_diff(y, gauss_x0(x, t)));
    // A parameter-free module runs in the caller's dtype: float32 in, float32 out.
    const at::Tensor yf = model->predict_x0(x.to(at::kFloat), t);
    EXPECT_EQ(yf.scalar_type(), at::kFloat);
    if (t <= 0.5) worst_float = std::max(worst_float, max_abs_diff(yf, gauss_x0(x, t)));
  }
  EXPECT_LE(worst, 1e-10);
  EXPECT_LE(worst_float, 1e-5);
  std::cout << "[ measured ] gauss eps: max |x0 - closed form| " << worst << " (float64), "
            << worst_float << " (float32, t <= 0.5)\n";
}

TEST_F(TorchScriptModel, Float32ParametersGetFloat32InputAndDoubleComesBack) {
  const auto model = load_torchscript_model(spec("gauss_param"), make_schedule("vp-linear"));
  // GaussEpsParam(s) sees x/s against unit-variance data: ε̂ = σ(x/s)/(α² + σ²) = σx/s.
  const at::Tensor x =
      at::randn({4, 3, 4, 4}, at::make_generator<at::CPUGeneratorImpl>(2), at::kDouble);
  double worst = 0;
  for (double t : {0.05, 0.3, 0.6}) {
    const double a = vp_alpha(t), sig = std::sqrt(1 - a * a);
    const at::Tensor y = model->predict_x0(x, t);
    EXPECT_EQ(y.scalar_type(), at::kDouble);
    const at::Tensor expected =
        (x - sig * (sig * x / static_cast<double>(static_cast<float>(kS)))) / a;
    worst = std::max(worst, max_abs_diff(y, expected));
  }
  EXPECT_LE(worst, 1e-5);
  std::cout << "[ measured ] float32-parameter module: max |x0 - closed form| " << worst << "\n";
}

TEST_F(TorchScriptModel, TauIsTheDeclaredTimeInputPerBatchRow) {
  auto schedule = make_schedule("vp-linear");
  const at::Tensor x = at::zeros({3, 3, 4, 4}, at::kDouble);
  const double t = 0.37;
  const auto m999 = load_torchscript_model(spec("tau", Parameterization::x0), schedule);
  EXPECT_EQ(at::all(m999->predict_x0(x, t) == 999.0 * t).item<bool>(), true);
  const auto msigma =
      load_torchscript_model(spec("tau", Parameterization::x0, TimeInput::sigma), schedule);
  const double a = vp_alpha(t);
  EXPECT_LE(max_abs_diff(msigma->predict_x0(x, t), at::full_like(x, std::sqrt(1 - a * a) / a)),
            1e-13);
}

TEST_F(TorchScriptModel, BrokenModulesAndFilesNameThePathAndTheProblem) {
  EXPECT_EQ(load_error(spec("flatten")),
            path("flatten") +
                ": forward returned shape [2, 48] on a probe batch of shape [2, 3, 4, 4] at "
                "τ = 499.999500 (expected the input's shape)");
  EXPECT_EQ(load_error(spec("one_arg")),
            path("one_arg") + ": forward must take (x, τ), it takes (Tensor x)");
  EXPECT_EQ(load_error(spec("pair")),
            path("pair") +
                ": forward returned a Tuple, not a tensor, on a probe batch of shape "
                "[2, 3, 4, 4] at τ = 499.999500");
  TorchScriptSpec small = spec("needs48");
  small.sample_shape = {2, 2};
  const std::string failed = load_error(small);
  EXPECT_EQ(failed.rfind(path("needs48") + ": forward(x, τ) failed on a probe batch of shape "
                                           "[2, 2, 2] at τ = 499.999500: ",
                         0),
            0u)
      << failed;
  EXPECT_NE(failed.find("invalid for input of size 8"), std::string::npos) << failed;
  const std::string garbage = load_error(spec("garbage"));
  std::cout << "[ measured ] " << failed << "\n[ measured ] " << garbage << "\n";
  EXPECT_EQ(garbage.rfind(path("garbage") + ": not a TorchScript module (torch.jit.load: ", 0), 0u)
      << garbage;
  EXPECT_EQ(load_error(spec("missing")), path("missing") + ": no such file");
  // Bad arguments are ConfigErrors naming the field.
  try {
    load_torchscript_model(spec("gauss"), make_schedule("vp-linear"), "tpu:0");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "device");
  }
  TorchScriptSpec empty = spec("gauss");
  empty.sample_shape.clear();
  EXPECT_THROW(load_torchscript_model(empty, make_schedule("vp-linear")), ConfigError);
}

// A module that loads (the probe at τ ≈ 500 passes) but fails for some inputs during sampling:
// out of memory, an output of another shape, an exception. Each is a NumericalError naming the
// module, τ, the batch shape and the reason (the search turns it into a FAIL trial and goes on).
TEST_F(TorchScriptModel, FailuresForSomeInputsAreNumericalErrorsNamingTheModule) {
  const at::Tensor x = at::randn({2, 3, 4, 4}, at::make_generator<at::CPUGeneratorImpl>(2));
  auto error_at = [&](const std::string& name, double t) -> std::string {
    const auto model = load_torchscript_model(spec(name), make_schedule("vp-linear"));
    // Early steps run: ε̂ = x, so x0 = (x − σx)/α.
    const double a = vp_alpha(0.9), sig = std::sqrt(1 - a * a);
    EXPECT_LE(max_abs_diff(model->predict_x0(x, 0.9), x.to(at::kDouble) * ((1 - sig) / a)), 1e-5)
        << name;
    try {
      model->predict_x0(x, t);
    } catch (const NumericalError& e) {
      return e.what();
    }
    return "no error";
  };
  // τ = 999·0.05 = 49.95: eps-parameterized, x0 = (x − σε̂)/α is computed after forward.
  const std::string where =
      ": forward(x, τ) failed at τ = 49.950000 on a batch of shape [2, 3, 4, 4]: ";
  const std::string oom = error_at("huge_late", 0.05);
  std::cout << "[ measured ] " << oom << "\n";
  EXPECT_EQ(oom.rfind("model " + path("huge_late") + where, 0), 0u) << oom;
  EXPECT_NE(oom.find("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                     "4398046511104 bytes"),
            std::string::npos)
      << oom;
  EXPECT_EQ(error_at("shrink_late", 0.05),
            "model " + path("shrink_late") +
                ": forward returned shape [1, 3, 4, 4] at τ = 49.950000 on a batch of shape "
                "[2, 3, 4, 4] (expected the input's shape)");
  const std::string raised = error_at("raise_late", 0.05);
  EXPECT_EQ(raised.rfind("model " + path("raise_late") + where, 0), 0u) << raised;
  EXPECT_NE(raised.find("late steps are not supported"), std::string::npos) << raised;
  EXPECT_EQ(error_at("nan_late", 0.05), "model " + path("nan_late") +
                                            ": forward returned NaN or Inf at τ = 49.950000 on a "
                                            "batch of shape [2, 3, 4, 4]");
}

}  // namespace
}  // namespace samplersearch
