#include "samplersearch/experiments/shards.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/search/loop.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {

namespace fs = std::filesystem;

std::string shard_directory(const std::string& output) {
  fs::path p(output);
  if (p.extension() == ".h5") p.replace_extension("");
  return p.string();
}

std::string shard_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* c = host; *c; ++c)
    name += (std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '-' || *c == '_')
                ? *c
                : '_';
  if (name.empty()) name = "host";
  return name + "-" + std::to_string(getpid());
}

bool shard_writer_gone(const std::string& directory, const std::string& shard) {
  if (shard.empty()) return false;
  const fs::path file = fs::path(directory) / (shard + ".h5");
  std::error_code ec;
  return fs::is_regular_file(file, ec) && !writer_lock_held(file.string());
}

std::string shard_of(const std::string& path) { return fs::path(path).stem().string(); }

std::vector<std::string> store_files(const std::vector<std::string>& arguments) {
  std::vector<std::string> out;
  for (const std::string& a : arguments) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(a, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".h5")
          found.push_back(entry.path().string());
      if (found.empty()) throw FileError(a, "is a directory without trial stores (*.h5)");
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(a, ec)) {
      out.push_back(a);
    } else {
      throw FileError(a, "does not exist");
    }
  }
  return out;
}

StoreContents read_stores(const std::vector<std::string>& files) {
  SS_CHECK(!files.empty());
  StoreContents merged = read_store(files.front());
  if (files.size() == 1) return merged;
  for (TrialRecord& r : merged.trials) r.host = shard_of(files.front());
  for (size_t i = 1; i < files.size(); ++i) {
    StoreContents c = read_store(files[i]);
    if (c.experiment_hash != merged.experiment_hash)
      throw FileError(files[i], "holds another experiment than " + files.front() +
                                    " (experiment hash " + c.experiment_hash.substr(0, 12) +
                                    " vs " + merged.experiment_hash.substr(0, 12) +
                                    "); give only the shards of one experiment");
    for (TrialRecord& r : c.trials) {
      r.host = shard_of(files[i]);
      merged.trials.push_back(std::move(r));
    }
    for (Baseline& b : c.baselines)
      if (std::none_of(merged.baselines.begin(), merged.baselines.end(),
                       [&](const Baseline& m) { return m.label == b.label; }))
        merged.baselines.push_back(std::move(b));
    merged.validations.insert(c.validations.begin(), c.validations.end());
  }
  // By trial number; a number in two shards (a trial settled by another process) keeps the
  // record that counts: anything but FAIL "interrupted".
  std::stable_sort(merged.trials.begin(), merged.trials.end(),
                   [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
  std::vector<TrialRecord> unique;
  for (TrialRecord& r : merged.trials) {
    if (!unique.empty() && unique.back().number == r.number) {
      if (unique.back().state == TrialState::fail && unique.back().reason == kInterruptedReason)
        unique.back() = std::move(r);
      continue;
    }
    unique.push_back(std::move(r));
  }
  merged.trials = std::move(unique);
  return merged;
}

std::vector<std::string> settle_stale_trials(OptunaBridge& study, const std::string& directory,
                                             const std::string& own) {
  std::vector<std::string> log;
  std::map<std::string, StoreContents> shards;  // read once each
  std::vector<StaleTrial> orphans = stale_trials(study);
  std::set<int> gone;  // of a shard without a writer
  for (const FrozenTrial& t : study.trials({TrialState::running})) {
    const std::string shard = t.user_attrs.value("shard", std::string());
    if (shard != own && shard_writer_gone(directory, shard) &&
        std::none_of(orphans.begin(), orphans.end(),
                     [&](const StaleTrial& o) { return o.number == t.number; })) {
      orphans.push_back({t.number, shard, t.params});
      gone.insert(t.number);
    }
  }
  for (const StaleTrial& t : orphans) {
    if (t.shard == own) continue;
    const TrialRecord* stored = nullptr;
    const fs::path file = fs::path(directory) / (t.shard + ".h5");
    if (!t.shard.empty() && fs::exists(file)) {
      auto it = shards.find(t.shard);
      if (it == shards.end()) it = shards.emplace(t.shard, read_store(file.string())).first;
      for (const TrialRecord& r : it->second.trials)
        if (r.number == t.number) stored = &r;
    }
    const std::string who = "trial " + std::to_string(t.number) + " of " +
                            (t.shard.empty() ? std::string("an untagged process") : t.shard);
    const std::string why =
        gone.count(t.number) ? ": its shard has no writer any more" : ": no heartbeat";
    if (stored && stored->state != TrialState::running &&
        !(stored->state == TrialState::fail && stored->reason == kInterruptedReason)) {
      tell_record(study, *stored, TellMode::settle);
      log.push_back(who + why + "; its shard had stored it, told Optuna the stored result");
    } else if (fail_trial(study, t.number, kInterruptedReason)) {
      log.push_back(who + why + ", now FAIL (interrupted); its budget is asked again");
    }
  }
  return log;
}

}  // namespace samplersearch
