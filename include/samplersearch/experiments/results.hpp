#pragma once
// What `status`, `export` and `report` read out of a store: trials by state, the winner (the best
// trial after re-scoring), the best trials and the classic baselines, ranked.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "samplersearch/experiments/export.hpp"
#include "samplersearch/experiments/trial_store.hpp"

namespace samplersearch {

// The classic sampler every ratio is taken to (status, export, report, the seed spread): the
// second-order multistep DPM-Solver++ of Lu et al. (2022), "DPM-Solver++", Algorithm 2.
inline constexpr const char* kRatioBaseline = "dpmsolver++(2M)";

struct StoreSummary {
  std::map<std::string, int> by_state;  // "COMPLETE" → count, …
  int counted = 0;                      // finished trials that count toward the budget
  const TrialRecord* best = nullptr;    // lowest in-sample value among COMPLETE (nullptr: none yet)
  // The winner: the re-scored trial with the lowest finite re-scored value (value on unseen noise,
  // more samples); nullptr while no trial was re-scored.
  const TrialRecord* winner = nullptr;
  double winner_rescored = 0;  // the winner's re-scored value
  int rescored = 0;            // trials re-scored so far
};

StoreSummary summarize(const StoreContents& contents);

// COMPLETE trials with matrices, best in-sample value (on the search's own noise) first; ties keep
// the store's order. The first `validation.top` of them are the ones re-scored.
std::vector<const TrialRecord*> in_sample_ranking(const StoreContents& contents);

// The `top` best COMPLETE trials, then the baselines. Trials are ranked by their re-scored value
// (unseen noise) where they have one, best first; then the trials not re-scored, by their in-sample
// value; then those whose re-scoring failed (NaN). So the first entry is the winner once the
// re-scoring ran, and the in-sample best before. Baselines are ranked by their in-sample value.
std::vector<ExportEntry> ranked_entries(const StoreContents& contents, int top);

// One search's outcome in a spread over search seeds: its winner's re-scored value over the named
// baseline's value on the same unseen noise.
struct SeedOutcome {
  std::string store;
  int64_t seed = 0;
  int trial = -1;                                              // the winner (-1: none)
  double rescored = std::numeric_limits<double>::quiet_NaN();  // the winner's re-scored value
  double baseline = std::numeric_limits<double>::quiet_NaN();  // the baseline's unseen-noise value
  double ratio = std::numeric_limits<double>::quiet_NaN();     // rescored / baseline
};

// The outcome of one store; `baseline` names the classic sampler ratios are taken to.
SeedOutcome seed_outcome(const StoreContents& contents, const std::string& store, int64_t seed,
                         const std::string& baseline);

// Median and range of the finite ratios of several searches (NaN when there are none).
struct Spread {
  int runs = 0;  // outcomes with a finite ratio
  double median = std::numeric_limits<double>::quiet_NaN();
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};

// The median is the middle ratio, or the mean of the two middle ones for an even count.
Spread spread_of(const std::vector<SeedOutcome>& outcomes);

}  // namespace samplersearch
