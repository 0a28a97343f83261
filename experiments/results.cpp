// Reading a store out for status, export and report.
#include "samplersearch/experiments/results.hpp"

#include <algorithm>
#include <cmath>

#include "samplersearch/experiments/driver.hpp"

namespace samplersearch {
namespace {

// The rank group of a trial: 0 re-scored with a finite value, 1 not re-scored, 2 re-scoring failed.
int rank_group(const StoreContents& contents, int trial) {
  const auto it = contents.validations.find(trial);
  if (it == contents.validations.end()) return 1;
  return std::isfinite(it->second) ? 0 : 2;
}

}  // namespace

StoreSummary summarize(const StoreContents& contents) {
  StoreSummary s;
  for (const TrialRecord& r : contents.trials) {
    ++s.by_state[std::string(to_string(r.state))];
    if (improves_on(r, s.best)) s.best = &r;
    if (r.state != TrialState::complete) continue;
    const auto it = contents.validations.find(r.number);
    if (it == contents.validations.end()) continue;
    ++s.rescored;
    if (std::isfinite(it->second) && (!s.winner || it->second < s.winner_rescored)) {
      s.winner = &r;
      s.winner_rescored = it->second;
    }
  }
  s.counted = counted_trials(contents);
  return s;
}

std::vector<const TrialRecord*> in_sample_ranking(const StoreContents& contents) {
  std::vector<const TrialRecord*> complete;
  for (const TrialRecord& r : contents.trials)
    if (r.state == TrialState::complete && r.matrices) complete.push_back(&r);
  std::stable_sort(complete.begin(), complete.end(),
                   [](const TrialRecord* a, const TrialRecord* b) { return improves_on(*a, b); });
  return complete;
}

std::vector<ExportEntry> ranked_entries(const StoreContents& contents, int top) {
  std::vector<const TrialRecord*> complete = in_sample_ranking(contents);
  std::stable_sort(
      complete.begin(), complete.end(), [&](const TrialRecord* a, const TrialRecord* b) {
        const int ga = rank_group(contents, a->number), gb = rank_group(contents, b->number);
        if (ga != gb) return ga < gb;
        if (ga == 0) return contents.validations.at(a->number) < contents.validations.at(b->number);
        return false;  // in-sample order from in_sample_ranking
      });
  std::vector<ExportEntry> out;
  for (const TrialRecord* r : complete) {
    if (out.size() >= static_cast<size_t>(std::max(top, 0))) break;
    ExportEntry e;
    e.label = "trial " + std::to_string(r->number);
    if (!r->warm_start.empty()) e.label += " (" + r->warm_start + ")";
    e.searched = true;
    e.trial = r->number;
    e.value = *r->value;
    if (const auto it = contents.validations.find(r->number); it != contents.validations.end())
      e.validation = it->second;
    e.matrices = *r->matrices;
    e.matrices.solver = "searched";
    out.push_back(std::move(e));
  }
  std::vector<const Baseline*> baselines;
  for (const Baseline& b : contents.baselines) baselines.push_back(&b);
  std::stable_sort(baselines.begin(), baselines.end(), [](const Baseline* a, const Baseline* b) {
    return std::isnan(b->value) ? !std::isnan(a->value) : a->value < b->value;
  });
  for (const Baseline* b : baselines) {
    ExportEntry e;
    e.label = b->label;
    e.searched = false;
    e.value = b->value;
    e.validation = b->validation;
    e.matrices = b->matrices;
    out.push_back(std::move(e));
  }
  return out;
}

SeedOutcome seed_outcome(const StoreContents& contents, const std::string& store, int64_t seed,
                         const std::string& baseline) {
  SeedOutcome o;
  o.store = store;
  o.seed = seed;
  const StoreSummary s = summarize(contents);
  if (s.winner) {
    o.trial = s.winner->number;
    o.rescored = s.winner_rescored;
  }
  if (const Baseline* b = find_baseline(contents, baseline)) o.baseline = b->validation;
  if (std::isfinite(o.rescored) && std::isfinite(o.baseline) && o.baseline != 0)
    o.ratio = o.rescored / o.baseline;
  return o;
}

Spread spread_of(const std::vector<SeedOutcome>& outcomes) {
  std::vector<double> r;
  for (const SeedOutcome& o : outcomes)
    if (std::isfinite(o.ratio)) r.push_back(o.ratio);
  Spread s;
  s.runs = static_cast<int>(r.size());
  if (r.empty()) return s;
  std::sort(r.begin(), r.end());
  const size_t n = r.size();
  s.median = n % 2 ? r[n / 2] : 0.5 * (r[n / 2 - 1] + r[n / 2]);
  s.min = r.front();
  s.max = r.back();
  return s;
}

}  // namespace samplersearch
