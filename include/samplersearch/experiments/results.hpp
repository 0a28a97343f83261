#pragma once
// What `status`, `export` and `report` read out of a store: trials by state, the best trials and
// the classic baselines, ranked.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "samplersearch/experiments/export.hpp"
#include "samplersearch/experiments/trial_store.hpp"

namespace samplersearch {

struct StoreSummary {
  std::map<std::string, int> by_state;  // "COMPLETE" → count, …
  int counted = 0;                      // finished trials that count toward the budget
  const TrialRecord* best = nullptr;    // lowest value among COMPLETE (nullptr: none yet)
};

StoreSummary summarize(const StoreContents& contents);

// The `top` best COMPLETE trials by their value on the search's noise, then the baselines by
// theirs; each entry also carries its unseen-noise value where it was measured (NaN otherwise).
std::vector<ExportEntry> ranked_entries(const StoreContents& contents, int top);

}  // namespace samplersearch
