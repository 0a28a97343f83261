// The bridge's ops: one method per request of the protocol (search/README.md), each building the
// request and decoding its response.
#include "samplersearch/search/optuna_bridge.hpp"

#include <string>

#include "bridge_codec.hpp"
#include "samplersearch/common/registry.hpp"

namespace samplersearch {

using nlohmann::json;
using namespace bridge_detail;

StudyInfo OptunaBridge::open_study(const StudyConfig& config, bool create) {
  registry_find(optuna_sampler_registry(), config.sampler, "sampler");
  registry_find(optuna_pruner_registry(), config.pruner, "pruner");
  optuna_storage_kind(config.storage);
  json req = {{"op", create ? "create_study" : "load_study"},
              {"sampler", {{"name", config.sampler}, {"params", config.sampler_params}}},
              {"pruner", {{"name", config.pruner}, {"params", config.pruner_params}}},
              {"storage", config.storage.empty() ? json(nullptr) : json(config.storage)}};
  if (!config.name.empty()) req["study_name"] = config.name;
  if (config.heartbeat > 0) req["heartbeat"] = config.heartbeat;
  if (!config.owner.empty()) req["owner"] = config.owner;
  if (create) {
    req["directions"] = config.directions;
    req["load_if_exists"] = config.load_if_exists;
  }
  std::lock_guard lock(mutex_);
  const json resp = request_locked(req, options_.timeout);
  const StudyInfo info = study_info_from_response(resp, "open study");
  req["study_name"] = info.name;  // a reload needs the name Optuna picked
  study_request_ = req;
  study_in_memory_ = optuna_storage_kind(config.storage) == "memory";
  return info;
}

StudyInfo OptunaBridge::study_info() {
  const json resp = request({{"op", "study_info"}});
  return study_info_from_response(resp, "study_info");
}

StudyInfo OptunaBridge::create_study(const StudyConfig& config) { return open_study(config, true); }

StudyInfo OptunaBridge::load_study(const StudyConfig& config) {
  if (config.name.empty()) throw ConfigError("study name", "load_study needs a study name");
  return open_study(config, false);
}

AskedTrial OptunaBridge::ask(const std::vector<Distribution>& distributions) {
  json dists = json::array();
  for (const Distribution& d : distributions) dists.push_back(d.to_json());
  const json resp = request({{"op", "ask"}, {"distributions", dists}});
  return parsed("ask", [&] { return AskedTrial{resp.at("number").get<int>(), resp.at("params")}; });
}

FrozenTrial OptunaBridge::tell(int number, const std::vector<double>& values,
                               bool skip_if_finished) {
  json vs = json::array();
  for (double v : values) vs.push_back(number_to_json(v));
  json req = {{"op", "tell"}, {"number", number}, {"values", vs}};
  if (skip_if_finished) req["retry"] = true;  // the bridge's op_tell then skips a finished trial
  return frozen_trial_from_response(request(req), "tell");
}

FrozenTrial OptunaBridge::tell_state(int number, TrialState state, bool skip_if_finished) {
  if (state != TrialState::pruned && state != TrialState::fail)
    throw ConfigError("trial state", "tell_state takes PRUNED or FAIL, not " +
                                         std::string(to_string(state)) +
                                         " (tell values to COMPLETE a trial)");
  json req = {{"op", "tell"}, {"number", number}, {"state", std::string(to_string(state))}};
  if (skip_if_finished) req["retry"] = true;
  return frozen_trial_from_response(request(req), "tell");
}

bool OptunaBridge::report(int number, int step, double value) {
  const json resp = request(
      {{"op", "report"}, {"number", number}, {"step", step}, {"value", number_to_json(value)}});
  return parsed("report", [&] { return resp.at("should_prune").get<bool>(); });
}

void OptunaBridge::enqueue(const json& params, const json& user_attrs) {
  json req = {{"op", "enqueue"}, {"params", params}};
  if (!user_attrs.is_null()) req["user_attrs"] = user_attrs;
  request(std::move(req));
}

std::vector<FrozenTrial> OptunaBridge::trials(const std::vector<TrialState>& states) {
  json req = {{"op", "trials"}};
  if (!states.empty()) {
    json names = json::array();
    for (TrialState s : states) names.push_back(std::string(to_string(s)));
    req["states"] = names;
  }
  return frozen_trials_from_response(request(std::move(req)), "trials");
}

std::vector<FrozenTrial> OptunaBridge::best_trials() {
  return frozen_trials_from_response(request({{"op", "best_trials"}}), "best_trials");
}

void OptunaBridge::set_user_attr(int number, const std::string& key, const json& value) {
  request({{"op", "set_user_attr"}, {"number", number}, {"key", key}, {"value", value}});
}

std::vector<int> OptunaBridge::fail_running(const std::string& reason) {
  const json resp = request({{"op", "fail_running"}, {"reason", reason}});
  return parsed("fail_running", [&] { return resp.at("failed").get<std::vector<int>>(); });
}

int OptunaBridge::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

int OptunaBridge::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

json OptunaBridge::hello() {
  std::lock_guard lock(mutex_);
  if (pending_hello_) finish_hello();
  return hello_;
}

}  // namespace samplersearch
