#pragma once
// The HDF5 trial store: one file per experiment holding the experiment file as
// run, its hash, the classic baselines measured before the search, and every finished trial
// (number, state, params, C, B, times, intermediate and final values, timings, device, reason).
// It implements the loop's TrialSink: a trial is flushed to disk before Optuna is told. The file
// is written in HDF5's single-writer/multi-reader (SWMR) mode, so h5py can read it while a search
// writes it and after a kill -9 at any moment. Schema: experiments/README.md.
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/common/sha256.hpp"  // sha256_hex, the experiment hash
#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/search/loop.hpp"

namespace samplersearch {

// A classic sampler measured before the search at the experiment's NFE and sample count.
struct Baseline {
  std::string label;                                             // e.g. "dpmsolver++(2M)"
  double value = 0;                                              // on the search's noise
  double validation = std::numeric_limits<double>::quiet_NaN();  // on the unseen validation noise
  Matrices matrices;
};

// Everything a store file holds, as read back.
struct StoreContents {
  std::string experiment;              // the experiment file as run (canonical JSON text)
  std::string experiment_hash;         // SHA-256 (hex) of `experiment`
  int steps = 0;                       // N of every stored matrix
  std::vector<int64_t> sample_counts;  // the fidelities (intermediate values are per count)
  std::vector<Baseline> baselines;
  std::vector<TrialRecord> trials;    // in the order written; trial numbers are unique
  std::map<int, double> validations;  // trial number → value on unseen noise (best trials)
};

// What a new store is created with.
struct StoreLayout {
  std::string experiment;       // canonical JSON text of the experiment as run
  std::string experiment_hash;  // SHA-256 (hex) of `experiment`
  std::shared_ptr<const Schedule> schedule;
  int steps = 0;                       // N (C is (N+1)×N, B (N+1)×(N+1), times N+1)
  std::vector<int64_t> sample_counts;  // fidelities, increasing
};

class TrialStore final : public TrialSink {
 public:
  // Creates `path` (FileError if it exists) and switches it to SWMR writing. ConfigError for a
  // bad layout (N < 1, no schedule, counts not increasing, a hash that is not the SHA-256 of the
  // experiment text; an empty hash is filled in).
  static std::unique_ptr<TrialStore> create(const std::string& path, const StoreLayout& layout);
  // Reopens an existing store to append (resume); FileError naming the path and reason when it is
  // not a store or is damaged. A store left by a killed writer is reopened without losing a record.
  static std::unique_ptr<TrialStore> open(const std::string& path);
  ~TrialStore() override;
  TrialStore(const TrialStore&) = delete;
  TrialStore& operator=(const TrialStore&) = delete;

  // Appends one finished trial and flushes it (TrialSink). ConfigError for matrices of another N
  // or schedule, a sample count not in the layout, or a trial number already stored.
  void write(const TrialRecord& record) override;
  // Appends one classic baseline and flushes it.
  void write_baseline(const Baseline& baseline);
  // Appends a trial's value re-measured on unseen noise and flushes it (a later one for the same
  // trial replaces it on reading). ConfigError when the trial is not in the store.
  void write_validation(int trial, double value);
  const std::string& path() const;

 private:
  struct Impl;
  explicit TrialStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a store (also while another process writes it, and after that process was killed);
// FileError naming the path and reason on a file that is not a store.
StoreContents read_store(const std::string& path);

// The baseline labelled `label` in `contents` (nullptr when it was not measured).
const Baseline* find_baseline(const StoreContents& contents, std::string_view label);

}  // namespace samplersearch
