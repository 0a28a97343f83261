#pragma once
// The C++ side of the Optuna bridge (search/optuna_bridge.py, protocol in search/README.md):
// spawns the Python program, sends one JSON request per line and reads one response per line,
// restarting a dead or stuck bridge and re-opening its study from storage.
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/common/error.hpp"

namespace samplersearch {

// A bridge failure: a Python exception (python_type()/python_message() are Optuna's), a timeout,
// a bridge that died twice, a malformed response, or a study lost with an in-memory storage.
class BridgeError : public Error {
 public:
  enum class Kind { python, timeout, died, protocol, lost_study };
  BridgeError(Kind kind, const std::string& op, const std::string& python_type,
              const std::string& message);
  Kind kind() const { return kind_; }
  const std::string& op() const { return op_; }
  const std::string& python_type() const { return python_type_; }
  // The Python message for Kind::python, else the bridge client's description.
  const std::string& python_message() const { return message_; }

 private:
  Kind kind_;
  std::string op_, python_type_, message_;
};

// Optuna's trial states (optuna.trial.TrialState); waiting is an enqueued trial not yet asked.
// The enum's values are the codes the trial store keeps.
enum class TrialState { running, complete, pruned, fail, waiting };

// One row of the state table: Optuna's name and whether a trial in it is finished (told).
struct TrialStateEntry {
  TrialState state;
  std::string_view name;
  bool finished;
};

// RUNNING, COMPLETE, PRUNED, FAIL, WAITING (finished: COMPLETE, PRUNED, FAIL), in code order.
std::span<const TrialStateEntry> trial_state_table();
// Optuna's name of a state.
std::string_view to_string(TrialState state);
// Inverse of to_string; ConfigError("trial state", ...) for any other string.
TrialState trial_state_from_string(std::string_view name);
// TrialState.is_finished(): COMPLETE, PRUNED or FAIL.
bool is_finished(TrialState state);

// One row of the Optuna sampler, pruner or storage registry (names as the bridge spells them;
// a storage's name is its URL scheme, "memory" for in-memory).
struct OptunaEntry {
  std::string_view name;
  std::string_view summary;
};

// tpe, cmaes, random, qmc, nsga2, grid: the samplers the bridge builds by name.
std::span<const OptunaEntry> optuna_sampler_registry();
// none, median, successive_halving, hyperband.
std::span<const OptunaEntry> optuna_pruner_registry();
// One row of the storage registry: its name (the URL scheme), the URL it takes, and whether
// several processes (machines) can share a study through it.
struct StorageEntry {
  std::string_view name;
  std::string_view summary;
  bool shared;
};

// memory, sqlite, postgresql, journal.
std::span<const StorageEntry> optuna_storage_registry();
// The storage registry name of a URL ("" -> memory); ConfigError("storage", ...) if unknown.
std::string_view optuna_storage_kind(std::string_view url);

// One parameter Optuna samples: a float in [low, high] (log-uniform if `log`, on a grid if `step`).
// The search spaces ask only for floats; the bridge script also knows Optuna's int and
// categorical distributions, which a new space would add here with its first use.
struct Distribution {
  std::string name;
  double low = 0, high = 0;
  bool log = false;
  std::optional<double> step;  // grid step

  // Uniform (or log-uniform) float in [low, high], optionally on a step grid.
  static Distribution floating(std::string name, double low, double high, bool log = false,
                               std::optional<double> step = std::nullopt);
  // {"name", "type", ...} as the protocol's ask request carries it.
  nlohmann::json to_json() const;
};

// A trial handed out by ask: its number in the study and its sampled (or enqueued) params.
struct AskedTrial {
  int number = -1;
  nlohmann::json params;
};

// A stored trial as Optuna reports it.
struct FrozenTrial {
  int number = -1;
  TrialState state = TrialState::running;
  nlohmann::json params = nlohmann::json::object();
  std::vector<double> values;                 // empty unless COMPLETE (or PRUNED with a report)
  std::map<int, double> intermediate_values;  // step -> reported value
  nlohmann::json user_attrs = nlohmann::json::object();
  std::string datetime_start, datetime_complete;  // ISO 8601, empty if unset
};

// What create_study / load_study send: the sampler and pruner are not stored by Optuna, so a
// reload needs them again. storage: "" (in-memory), sqlite:///path, postgresql://..., or
// journal:///path.
struct StudyConfig {
  std::string name;                                 // "" lets Optuna pick one (create only)
  std::vector<std::string> directions{"minimize"};  // "minimize"/"maximize", one per objective
  std::string sampler = "tpe";                      // tpe, cmaes, random, qmc, nsga2, grid
  nlohmann::json sampler_params = nlohmann::json::object();  // seed, x0, sigma0, search_space...
  std::string pruner = "none";  // none, median, successive_halving, hyperband
  nlohmann::json pruner_params = nlohmann::json::object();
  std::string storage;
  bool load_if_exists = false;
  int heartbeat = 0;  // seconds between trial heartbeats from the bridge (RDB storages; 0: none)
  std::string owner;  // shared study: the shard whose trials this bridge asks ("": not shared)
};

// What the bridge says about the open study.
struct StudyInfo {
  std::string name;
  std::vector<std::string> directions;
  int n_trials = 0;
  std::string storage_kind;            // memory, rdb, journal
  std::optional<long> effective_seed;  // create/load: seed + n_trials when reopened with trials
  std::optional<bool> grid_exhausted;  // study_info with the grid sampler: every point asked
};

// How to run the bridge. Defaults: the interpreter CMake was configured with and the script in
// the source tree; env SAMPLERSEARCH_PYTHON and SAMPLERSEARCH_OPTUNA_BRIDGE override them.
struct BridgeOptions {
  std::string python;                                            // "" = default_bridge_python()
  std::string script;                                            // "" = default_bridge_script()
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};  // per request
  std::chrono::milliseconds startup_timeout{std::chrono::seconds(60)};  // spawn + hello
  // Called (under the bridge's lock) each time a dead or garbled bridge is restarted, with why.
  std::function<void(const std::string& why)> on_restart;
  // The constructor starts the process and sends "hello" but returns at once; the reply (Python
  // importing Optuna, ~1 s) is awaited by the first request, so the caller can load data
  // meanwhile. A bridge that cannot start then fails that request instead of the constructor.
  bool defer_hello = false;
};

// One response line of the bridge protocol (search/README.md): the JSON object whose "id" is
// `id`; BridgeError (Kind::protocol) naming `op` if it is not JSON, not an object or has another
// id.
nlohmann::json parse_bridge_response(std::string_view line, long id, const std::string& op);
// The trial of an ok response to tell; BridgeError (protocol) naming `op` on a missing field.
FrozenTrial frozen_trial_from_response(const nlohmann::json& resp, const std::string& op);
// The "trials" list of an ok response to trials/best_trials; BridgeError (protocol) as above.
std::vector<FrozenTrial> frozen_trials_from_response(const nlohmann::json& resp,
                                                     const std::string& op);
// The study of an ok response to create_study/load_study/study_info; BridgeError as above.
StudyInfo study_info_from_response(const nlohmann::json& resp, const std::string& op);

// Interpreter for the bridge: $SAMPLERSEARCH_PYTHON, else the configured SAMPLERSEARCH_PYTHON.
std::string default_bridge_python();
// search/optuna_bridge.py: $SAMPLERSEARCH_OPTUNA_BRIDGE, else the path CMake compiled in.
std::string default_bridge_script();

// Client of one bridge process holding one open study. Thread-safe: requests are serialized.
// A bridge that dies, times out or answers garbage is restarted, the study re-opened from its
// storage (an in-memory study cannot be: BridgeError lost_study), and the request retried once.
class OptunaBridge {
 public:
  explicit OptunaBridge(BridgeOptions options = {});
  ~OptunaBridge();
  OptunaBridge(const OptunaBridge&) = delete;
  OptunaBridge& operator=(const OptunaBridge&) = delete;

  // Creates (or with load_if_exists, opens) the study; it becomes the open study. Unknown
  // sampler, pruner or storage names are ConfigErrors before anything is sent.
  StudyInfo create_study(const StudyConfig& config);
  // Opens an existing study by name from config.storage with config's sampler and pruner.
  StudyInfo load_study(const StudyConfig& config);
  // The open study's name, directions, trial count and (grid sampler) whether the grid is used up.
  StudyInfo study_info();
  // study.ask(fixed_distributions): the next trial's number and params (enqueued ones first).
  AskedTrial ask(const std::vector<Distribution>& distributions);
  // study.tell(number, values): COMPLETE with one value per objective. `skip_if_finished`: a trial
  // another process finished meanwhile is left as it is (Optuna's skip_if_finished).
  FrozenTrial tell(int number, const std::vector<double>& values, bool skip_if_finished = false);
  // study.tell(number, state=PRUNED or FAIL); a PRUNED trial keeps its last reported value.
  FrozenTrial tell_state(int number, TrialState state, bool skip_if_finished = false);
  // Stores `value` at `step` (first report of a step wins); true if the pruner says prune.
  bool report(int number, int step, double value);
  // study.enqueue_trial(params): the next ask returns exactly these params.
  void enqueue(const nlohmann::json& params, const nlohmann::json& user_attrs = nullptr);
  // All trials of the open study (or only those in `states`), by number.
  std::vector<FrozenTrial> trials(const std::vector<TrialState>& states = {});
  // The best trial (one objective) or the Pareto front (several); empty before any COMPLETE.
  std::vector<FrozenTrial> best_trials();
  // trial.set_user_attr(key, value) on a trial that is still RUNNING.
  void set_user_attr(int number, const std::string& key, const nlohmann::json& value);
  // Marks every RUNNING trial FAIL with user attr fail_reason = reason; returns their numbers.
  std::vector<int> fail_running(const std::string& reason);

  // Sends one raw request (an "op" plus fields; the id is added) and returns the ok response.
  nlohmann::json request(nlohmann::json req);
  // Same, with a timeout for this request only.
  nlohmann::json request(nlohmann::json req, std::chrono::milliseconds timeout);

  // Process id of the current bridge (changes on restart); for tests.
  int pid() const;
  // How many times the bridge was restarted after dying, hanging or answering garbage.
  int restarts() const;
  // The "hello" response of the current bridge process (protocol, optuna version, ...).
  nlohmann::json hello();

 private:
  struct PendingHello {
    long id = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  void start(bool defer_hello = false);
  void finish_hello();
  void stop_process(bool graceful);
  nlohmann::json exchange(const nlohmann::json& req, std::chrono::milliseconds timeout);
  long send(const nlohmann::json& req_without_id);  // returns the request's id
  nlohmann::json receive(long id, const std::string& op,
                         std::chrono::steady_clock::time_point deadline,
                         std::chrono::milliseconds timeout);
  nlohmann::json request_locked(nlohmann::json req, std::chrono::milliseconds timeout);
  void reopen_study(const std::string& why);
  StudyInfo open_study(const StudyConfig& config, bool create);

  BridgeOptions options_;
  mutable std::mutex mutex_;
  int pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  long next_id_ = 1;
  int restarts_ = 0;
  nlohmann::json hello_;
  std::optional<PendingHello> pending_hello_;    // sent by a deferred start, reply not yet read
  std::optional<nlohmann::json> study_request_;  // the last successful create/load request
  bool study_in_memory_ = false;
};

}  // namespace samplersearch
