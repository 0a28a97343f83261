// Reading a store out for status, export and report.
#include "samplersearch/experiments/results.hpp"

#include <algorithm>
#include <cmath>

#include "samplersearch/experiments/driver.hpp"

namespace samplersearch {

StoreSummary summarize(const StoreContents& contents) {
  StoreSummary s;
  for (const TrialRecord& r : contents.trials) {
    ++s.by_state[std::string(to_string(r.state))];
    if (r.state == TrialState::complete && (!s.best || *r.value < *s.best->value)) s.best = &r;
  }
  s.counted = counted_trials(contents);
  return s;
}

std::vector<ExportEntry> ranked_entries(const StoreContents& contents, int top) {
  std::vector<const TrialRecord*> complete;
  for (const TrialRecord& r : contents.trials)
    if (r.state == TrialState::complete && r.matrices) complete.push_back(&r);
  std::stable_sort(
      complete.begin(), complete.end(),
      [](const TrialRecord* a, const TrialRecord* b) { return *a->value < *b->value; });
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

}  // namespace samplersearch
