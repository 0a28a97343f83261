// Chunked, pooled, multi-fidelity scoring: bit-identical for 1 or several workers, pruning,
// and numerical failures.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/evaluate.hpp"

namespace samplersearch {
namespace {

// Mean squared sample value, and its distance to a reference when given: a mergeable test metric
// whose merge order matters in floating point (so a split-dependent merge would show).
class SquareState final : public MetricState {
 public:
  explicit SquareState(bool ref) : ref_(ref) {}
  void add(const at::Tensor& s, const at::Tensor& r) override {
    sum_ += (ref_ ? (s - r) : s).pow(2).sum().item<double>();
    n_ += s.size(0);
  }
  void merge(const MetricState& o) override {
    const auto& other = dynamic_cast<const SquareState&>(o);
    sum_ += other.sum_;
    n_ += other.n_;
  }
  int64_t count() const override { return n_; }
  double value() const override { return sum_ / static_cast<double>(n_); }

 private:
  bool ref_;
  double sum_ = 0;
  int64_t n_ = 0;
};

class SquareMetric final : public Metric {
 public:
  explicit SquareMetric(bool ref) : ref_(ref) {}
  std::string_view name() const override { return ref_ ? "square_to_reference" : "square"; }
  bool needs_reference_samples() const override { return ref_; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<SquareState>(ref_);
  }

 private:
  bool ref_;
};

struct Fixture {
  std::shared_ptr<const Schedule> schedule = make_schedule("vp-linear");
  GaussianMixtureModel model = [&] {
    at::manual_seed(3);
    const auto f = at::TensorOptions().dtype(at::kDouble);
    return GaussianMixtureModel(
        {at::tensor({0.6, 0.4}, f), at::randn({2, 16}, f), at::tensor({0.2, 0.5}, f)}, schedule,
        {16});
  }();
  Matrices matrices(const std::string& solver, int steps) {
    return solver_matrices(
        solver, SolverPlan{schedule, TimeGrid("time-quadratic", {1.0, 1e-3}), steps, {}});
  }
};

TEST(Evaluate, BitIdenticalForOneOrSeveralWorkers) {
  Fixture f;
  SquareMetric metric(true);
  ReferenceSamples reference(f.matrices("ddim", 50), f.model, 11, {{16}, at::kFloat});
  Objective o{&f.model, &metric, {{16}, at::kFloat}, 11, 32, {64, 160}, &reference, {}};
  const Matrices m = f.matrices("dpmsolver++", 6);
  DevicePool one({"cpu"}), three({"cpu:3"});
  const Evaluation a = evaluate(m, o, one, nullptr);
  const Evaluation b = evaluate(m, o, three, nullptr);
  EXPECT_EQ(a.value, b.value);  // bit-identical
  ASSERT_EQ(a.intermediate.size(), 2u);
  EXPECT_EQ(a.intermediate[0].first, 64);
  EXPECT_EQ(a.intermediate[0].second, b.intermediate[0].second);
  EXPECT_GT(a.value, 0.0);
  // The same value from one call of the engine over all 160 samples, scored in one piece.
  const at::Tensor all = run_engine(m, f.model, 11, 0, 160, {{16}, at::kFloat});
  const at::Tensor ref = run_engine(reference.matrices(), f.model, 11, 0, 160, {{16}, at::kFloat});
  // (float32 samples: the per-chunk sums round differently from one sum over all 160)
  EXPECT_NEAR(a.value, (all - ref).to(at::kDouble).pow(2).sum().item<double>() / 160,
              1e-6 * a.value);
}

TEST(Evaluate, ReportsIntermediateValuesAndStopsWhenPruned) {
  Fixture f;
  SquareMetric metric(false);
  Objective o{&f.model, &metric, {{16}, at::kFloat}, 5, 16, {16, 32, 64}, nullptr, {}};
  DevicePool pool({"cpu:2"});
  std::vector<int64_t> seen;
  const Evaluation e = evaluate(f.matrices("ddim", 4), o, pool, [&](int64_t n, double) {
    seen.push_back(n);
    return n >= 32;
  });
  EXPECT_TRUE(e.pruned);
  EXPECT_EQ(seen, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(e.intermediate.back().first, 32);
}

// A model that returns NaN: the trial fails with a NumericalError, nothing else breaks.
class NanModel final : public X0Model {
 public:
  at::Tensor predict_x0(const at::Tensor& x, double) const override {
    return at::full_like(x, std::nan(""));
  }
  std::vector<int64_t> sample_shape() const override { return {4}; }
};

TEST(Evaluate, NanSamplesAreANumericalFailure) {
  Fixture f;
  NanModel nan_model;
  SquareMetric metric(false);
  Objective o{&nan_model, &metric, {{4}, at::kFloat}, 1, 8, {8}, nullptr, {}};
  DevicePool pool({"cpu"});
  EXPECT_THROW(evaluate(f.matrices("ddim", 3), o, pool, nullptr), NumericalError);
}

TEST(Evaluate, BadObjectivesAndDevicesAreConfigErrors) {
  Fixture f;
  SquareMetric needs_ref(true);
  Objective o{&f.model, &needs_ref, {{16}, at::kFloat}, 1, 16, {16}, nullptr, {}};
  DevicePool pool({"cpu"});
  EXPECT_THROW(evaluate(f.matrices("ddim", 3), o, pool, nullptr), ConfigError);
  SquareMetric plain(false);
  Objective uneven{&f.model, &plain, {{16}, at::kFloat}, 1, 16, {24}, nullptr, {}};
  EXPECT_THROW(evaluate(f.matrices("ddim", 3), uneven, pool, nullptr), ConfigError);
  try {
    DevicePool bad({"tpu:0"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "devices: 'tpu:0' is not a device name (valid: cpu, cpu:N, cuda:I)");
  }
  EXPECT_THROW(DevicePool({"cuda:0"}), ConfigError);  // this LibTorch build has no CUDA
  EXPECT_EQ(DevicePool({"cpu:4"}).size(), 4);
}

}  // namespace
}  // namespace samplersearch
