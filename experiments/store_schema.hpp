#pragma once
// Private to experiments/: the trial store's schema (experiments/README.md, "The trial store
// (HDF5)"): the fixed header written before SWMR starts, the columns of /trials, /baselines and
// /validations, and decoding a whole file into StoreContents.
#include <limits>
#include <memory>
#include <string>

#include "samplersearch/experiments/trial_store.hpp"
#include "store_columns.hpp"

namespace samplersearch::store_detail {

constexpr const char* kFormat = "samplersearch-trial-store";
constexpr int64_t kFormatVersion = 1;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The TrialState enum as stored: int8 (`base`) with Optuna's names.
Handle state_type(hid_t base);

// The per-trial columns, in the order they are written (number, the commit column, is last).
struct TrialColumns {
  Column state, value, intermediate, started, seconds, timesteps, C, B;
  Column params, device, reason, warm_start, solver, options;
  Text text;
  Column number;
};

struct BaselineColumns {
  Column value, validation, timesteps, C, B, solver, options;
  Text text;
  Column label;
};

// Values of the best trials re-measured on unseen noise (trial is the commit column).
struct ValidationColumns {
  Column value;
  Column trial;
};

// What the store knows about an open file beyond its columns.
struct Header {
  std::string experiment, experiment_hash;
  int steps = 0;
  std::vector<int64_t> sample_counts;
  std::shared_ptr<const Schedule> schedule;
};

// A file-level problem that is not an HDF5 library failure (not a store, damaged contents).
class NotAStore : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks a layout before anything is created; fills in a missing hash.
StoreLayout checked_layout(StoreLayout layout);
// Writes the fixed part of a new store and creates every column (before SWMR starts).
void write_layout(hid_t file, const StoreLayout& layout);
// The fixed part of a store; NotAStore when the file is not one (or not this version).
Header read_header(hid_t file);

// Opens every column of both groups; the committed counts are the commit columns' lengths,
// cut at the first row a killed writer grew but did not fill (-1).
struct Columns {
  TrialColumns t;
  BaselineColumns b;
  ValidationColumns v;
  hsize_t n_trials = 0, n_baselines = 0, n_validations = 0;
};

// Opens every column of the three groups with their committed lengths.
Columns open_columns(hid_t file, const Header& h);

// Reads the whole store from an open file.
StoreContents read_contents(hid_t file, Header* header_out = nullptr);
// Opens a file for reading: SWMR read (works while a writer is active or after it was killed),
// else a plain read-only open (a file that is not in the latest format).
Handle open_for_reading(const std::string& path);
// FileError for a path that does not exist or is not an HDF5 file, before HDF5 opens it.
void check_is_hdf5(const std::string& path);
// The store's contents and schedule as a SWMR reader sees them (takes Hdf5Lock).
StoreContents read_locked(const std::string& path, Header* header);

}  // namespace samplersearch::store_detail
