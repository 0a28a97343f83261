// The classic samplers' non-template helpers: Gauss–Legendre nodes (DEIS) and DPM-Solver's
// singlestep plan.
#include <ATen/ATen.h>

#include <numbers>

#include "classic_solvers.hpp"
#include "high_order_solvers.hpp"
#include "samplersearch/common/registry.hpp"

namespace samplersearch::solvers {
std::pair<std::vector<double>, std::vector<double>> gauss_legendre(int n) {
  std::vector<double> x(static_cast<size_t>(n)), w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    double z = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = z;
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (z * p1 - p0) / (z * z - 1.0);
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    x[static_cast<size_t>(i)] = z;
    w[static_cast<size_t>(i)] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
  return {x, w};
}

SinglestepPlan singlestep_plan(const SolverPlan& plan, const char* name) {
  const int steps = plan.steps, order = plan.settings.order;
  const Schedule& sc = *plan.schedule;
  SinglestepPlan p;
  std::vector<int>& orders = p.orders;
  if (plan.settings.method == DpmMethod::singlestep_fixed) {
    if (plan.grid.discretization().empty())
      throw ConfigError("--timesteps", std::string(name) +
                                           " singlestep_fixed places its inner points by the "
                                           "discretization: give --discretization instead");
    // singlestep_fixed: ⌊steps/order⌋ steps of the full order on a grid of that many intervals,
    // then (an extension: the reference drops it) one step of order steps mod order.
    orders.assign(static_cast<size_t>(steps / order), order);
    if (steps % order != 0) orders.push_back(steps % order);
    p.outer = plan.grid.times(sc, static_cast<int>(orders.size()), name);
    for (size_t i = 0; i < orders.size(); ++i) {
      const double s = p.outer[i], t = p.outer[i + 1];
      std::vector<double> r;
      if (orders[i] > 1) {
        GridSpec spec = plan.grid.spec();
        spec.t_start = s;
        spec.t_end = t;
        const std::vector<double> inner =
            registry_find(discretization_registry(), plan.grid.discretization(), "discretization")
                .make(sc, orders[i], spec);
        const double ls = half_lambda(sc, s), h = half_lambda(sc, t) - ls;
        for (int j = 1; j < orders[i]; ++j)
          r.push_back((half_lambda(sc, inner[static_cast<size_t>(j)]) - ls) / h);
      }
      p.rs.push_back(r);
    }
    return p;
  }
  if (order == 3) {
    const int k = steps / 3 + 1;
    if (steps % 3 == 0) {
      orders.assign(static_cast<size_t>(k - 2), 3);
      orders.push_back(2);
      orders.push_back(1);
    } else {
      orders.assign(static_cast<size_t>(k - 1), 3);
      orders.push_back(steps % 3);
    }
  } else if (order == 2) {
    orders.assign(static_cast<size_t>(steps / 2), 2);
    if (steps % 2 == 1) orders.push_back(1);
  } else {
    orders.assign(static_cast<size_t>(steps), 1);
  }
  if (plan.grid.discretization() == "logsnr-uniform") {
    p.outer = plan.grid.times(sc, static_cast<int>(orders.size()), name);
    for (int o : orders) {
      std::vector<double> r;
      for (int j = 1; j < o; ++j) r.push_back(static_cast<double>(j) / o);
      p.rs.push_back(r);
    }
    return p;
  }
  const std::vector<double> all = plan.grid.times(sc, steps, name);
  size_t at = 0;
  p.outer.push_back(all[0]);
  for (int o : orders) {
    const double s = all[at], t = all[at + static_cast<size_t>(o)];
    // The reference's timesteps_inner = get_time_steps(skip_type, s, t, order): the same
    // discretization between the two outer times, never rounded (on a discrete schedule the
    // inner points are fractional steps). An explicit list supplies its own points.
    std::vector<double> inner;
    if (plan.grid.discretization().empty()) {
      inner.assign(all.begin() + static_cast<long>(at),
                   all.begin() + static_cast<long>(at) + o + 1);
    } else {
      GridSpec spec = plan.grid.spec();
      spec.t_start = s;
      spec.t_end = t;
      inner = registry_find(discretization_registry(), plan.grid.discretization(), "discretization")
                  .make(sc, o, spec);
    }
    const double ls = half_lambda(sc, s), h = half_lambda(sc, t) - ls;
    std::vector<double> r;
    for (int j = 1; j < o; ++j)
      r.push_back((half_lambda(sc, inner[static_cast<size_t>(j)]) - ls) / h);
    p.rs.push_back(r);
    p.outer.push_back(t);
    at += static_cast<size_t>(o);
  }
  return p;
}

}  // namespace samplersearch::solvers
