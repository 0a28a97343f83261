#pragma once
// One Optuna study shared by several searching processes (docs/cluster.md): the budget is counted
// over all of them and a slot is taken atomically with the ask, every trial is tagged with the
// trial store (shard) that asked it, the bridge records heartbeats for its running trials, and
// trials whose heartbeat stopped (Optuna's fail_stale_trials criterion: older than twice the
// interval) are found so another process can settle them.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch {

// True for storages several processes on several hosts can share: postgresql and journal.
bool is_shared_storage(std::string_view url);

// The name of a network file system's type holding `path` (nfs, cifs, smb2, lustre, gpfs, ...)
// from statfs(2) f_type, or "" for a local one; the nearest existing parent is asked.
std::string network_filesystem(const std::string& path);

// The network file system a statfs(2) f_type stands for ("" for any other).
std::string network_filesystem_name(unsigned long f_type);

// Refuses (ConfigError "optuna.storage") an SQLite storage on a network file system: SQLite's
// locks are not reliable there (sqlite.org/faq.html#q5), so several processes could corrupt it.
void check_storage_placement(const std::string& url);

// study.ask within a shared budget: nullopt once `budget` trials of the study hold a slot
// (running, or finished except FAIL "interrupted"), counted over every process.
std::optional<AskedTrial> ask_within_budget(OptunaBridge& study,
                                            const std::vector<Distribution>& distributions,
                                            int budget);

// Trials of the study holding a budget slot (as ask_within_budget counts them).
int counted_in_study(OptunaBridge& study);

// A RUNNING trial whose heartbeat is older than the grace period, and the shard that asked it.
struct StaleTrial {
  int number = -1;
  std::string shard;  // "" when the trial carries no shard tag
  nlohmann::json params;
};

// The stale trials of the open study (none without heartbeats); the bridge's own are left out.
std::vector<StaleTrial> stale_trials(OptunaBridge& study);

// FAIL a trial that is still RUNNING with user attr fail_reason = reason; false when it had
// finished already (another process settled it first).
bool fail_trial(OptunaBridge& study, int number, const std::string& reason);

// Takes `key` for `owner` if nobody holds it (a study user attr set under the budget lock) and
// returns who holds it now: the first process to claim a one-off job (a baseline) does it.
std::string claim(OptunaBridge& study, const std::string& key, const std::string& owner);

}  // namespace samplersearch
