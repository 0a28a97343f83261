// The HDF5 trial store. Layout, commit order and crash behaviour are documented in
// experiments/README.md ("The trial store (HDF5)"); in short:
//  * everything fixed (experiment text and hash, N, schedule, sample counts, the dataset layout)
//    is written before H5Fstart_swmr_write, because SWMR forbids creating objects afterwards;
//  * every per-record column is a chunked dataset with an unlimited first axis; strings are byte
//    ranges (offset, length) into a uint8 heap per group, since variable-length data is not
//    SWMR-safe;
//  * a record is committed by growing the group's commit column (/trials/number,
//    /baselines/label, /validations/trial) LAST, after every other column was written and
//    flushed (and fsynced), so a reader that takes n = len(commit column) first never sees half
//    a record;
//  * a store whose writer was killed still carries the "open for SWMR write" superblock flags;
//    open() rebuilds such a file from what a SWMR reader sees into a fresh file beside it and
//    renames it over the old one (no private HDF5 properties, nothing lost);
//  * a second writer is kept out by an open-file-description lock (F_OFD_SETLK) on the file, which
//    the kernel drops when the writer dies; HDF5's own flock is disabled so that h5py readers do
//    not block a resume.
// HDF5 here is not thread-safe: every HDF5 call of this file runs under one global mutex.
#include "samplersearch/experiments/trial_store.hpp"

#include <fcntl.h>
#include <stdio.h>     // renameat2
#include <sys/mman.h>  // memfd_create
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "store_schema.hpp"

namespace samplersearch {

using nlohmann::json;
using namespace store_detail;

namespace {

// The reason of a failed HDF5 write for the user: the system's error text first (HDF5's sec2
// driver puts it in its stack as "error message = '...'", e.g. No space left on device), then
// the stack on one line.
std::string write_failure(const Hdf5Failure& e) {
  std::string stack = e.what();
  for (char& c : stack)
    if (c == '\n') c = ' ';
  const std::string key = "error message = '";
  const size_t at = stack.find(key);
  if (at == std::string::npos) return stack;
  const size_t end = stack.find('\'', at + key.size());
  if (end == std::string::npos) return stack;
  return stack.substr(at + key.size(), end - at - key.size()) + " (" + stack + ")";
}

}  // namespace

struct TrialStore::Impl {
  std::string path;
  int lock_fd = -1;
  bool sync = true;  // fsync after each commit phase
  Handle file;
  Header header;
  Columns cols;
  std::unordered_set<int> numbers;
  bool failed = false;  // a write failed: the file is abandoned at close (abandon_file_locked)

  ~Impl() {
    if (file.get() >= 0) {
      Hdf5Lock lock;
      close_file_locked();
    }
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // Closes the HDF5 file (clearing its SWMR-write flags); the caller holds Hdf5Lock.
  void close_file_locked() {
    if (failed && file.get() >= 0) abandon_file_locked();
    cols = Columns{};  // datasets before the file
    file.reset();
  }

  // After a write failed (no space left, a file-size limit), HDF5 still holds data it cannot
  // write; closing would try again and fail, the file would stay open inside the library, and
  // the library would loop over it at exit ("HDF5: infinite loop closing library"). The file's
  // descriptor is pointed at an anonymous memory file instead: the close then writes there and
  // succeeds, and the store on disk stays as its last flushed commit left it, still marked open
  // for writing, which the next open rebuilds from what a reader sees (as after a killed writer).
  // A soft file-size limit (RLIMIT_FSIZE) would stop those writes too, so it is lifted to the hard
  // limit while they run; below a lowered hard limit the close can still fail.
  void abandon_file_locked() {
    void* handle = nullptr;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == nullptr) return;
    const int fd = *static_cast<int*>(handle);
    const int scratch = ::memfd_create("samplersearch-abandoned-store", MFD_CLOEXEC);
    if (scratch < 0) return;
    ::dup3(scratch, fd, O_CLOEXEC);
    ::close(scratch);
    rlimit limit{};
    const bool lifted = ::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != limit.rlim_max;
    if (lifted) {
      const rlimit raised{limit.rlim_max, limit.rlim_max};
      ::setrlimit(RLIMIT_FSIZE, &raised);
    }
    cols = Columns{};
    file.reset();
    if (lifted) ::setrlimit(RLIMIT_FSIZE, &limit);
  }

  // Flushes HDF5's caches to the file and (sync) the file to the disk.
  void flush() {
    h5(H5Fflush(file, H5F_SCOPE_LOCAL), "H5Fflush");
    if (sync) sync_fd(lock_fd, path);
  }

  void check_matrices(const Matrices& m, const std::string& who) const {
    const int n = header.steps;
    if (m.steps() != n || m.signal.rows() != n + 1 || m.noise.rows() != n + 1 ||
        m.noise.cols() != n + 1 || static_cast<int>(m.times.size()) != n + 1)
      throw ConfigError(
          "matrices", who + " has N = " + std::to_string(m.steps()) + " (C " +
                          std::to_string(m.signal.rows()) + "×" + std::to_string(m.signal.cols()) +
                          ", B " + std::to_string(m.noise.rows()) + "×" +
                          std::to_string(m.noise.cols()) + ", " + std::to_string(m.times.size()) +
                          " times), the store holds N = " + std::to_string(n));
    if (m.schedule && (m.schedule->name() != header.schedule->name() ||
                       m.schedule->params() != header.schedule->params()))
      throw ConfigError("matrices", who + " uses schedule " + std::string(m.schedule->name()) +
                                        " " + m.schedule->params().dump() + ", the store holds " +
                                        std::string(header.schedule->name()) + " " +
                                        header.schedule->params().dump());
  }

  // Writes the three matrix columns of row `row` (NaN rows when there are no matrices).
  static void put_matrices(Column& times, Column& C, Column& B, hsize_t row, const Matrices* m,
                           int steps) {
    const auto n = static_cast<size_t>(steps);
    if (m) {
      put_row(times, row, H5T_NATIVE_DOUBLE, m->times.data());
      put_row(C, row, H5T_NATIVE_DOUBLE, m->signal.data());  // RowMatrix: row-major, contiguous
      put_row(B, row, H5T_NATIVE_DOUBLE, m->noise.data());
    } else {
      const std::vector<double> nan((n + 1) * (n + 1), kNaN);
      put_row(times, row, H5T_NATIVE_DOUBLE, nan.data());
      put_row(C, row, H5T_NATIVE_DOUBLE, nan.data());
      put_row(B, row, H5T_NATIVE_DOUBLE, nan.data());
    }
  }

  void write(const TrialRecord& r) {
    Hdf5Lock lock;
    const std::string who = "trial " + std::to_string(r.number);
    if (r.number < 0)
      throw ConfigError("trial number", "must be >= 0, got " + std::to_string(r.number));
    if (numbers.count(r.number))
      throw ConfigError("trial number", std::to_string(r.number) + " is already in " + path);
    if (r.matrices) check_matrices(*r.matrices, who);
    const size_t f = header.sample_counts.size();
    std::vector<double> inter(f, kNaN);
    for (const auto& [count, v] : r.intermediate) {
      size_t k = 0;
      while (k < f && header.sample_counts[k] != count) ++k;
      if (k == f)
        throw ConfigError("intermediate", who + " reports at " + std::to_string(count) +
                                              " samples, which is not one of the store's "
                                              "sample counts");
      if (!std::isnan(inter[k]))
        throw ConfigError("intermediate",
                          who + " reports twice at " + std::to_string(count) + " samples");
      inter[k] = v;
    }
    try {
      TrialColumns& t = cols.t;
      const hsize_t row = cols.n_trials;
      const std::string options =
          r.matrices ? (r.matrices->options.is_null() ? json() : r.matrices->options).dump() : "";
      const auto spans = append_text(t.text, {r.params.dump(), r.device, r.reason, r.warm_start,
                                              r.matrices ? r.matrices->solver : "", options});
      Handle st = state_type(H5T_NATIVE_INT8);
      const auto state = static_cast<int8_t>(r.state);
      put_row(t.state, row, st, &state);
      const double value = r.value ? *r.value : kNaN;
      put_row(t.value, row, H5T_NATIVE_DOUBLE, &value);
      put_row(t.intermediate, row, H5T_NATIVE_DOUBLE, inter.data());
      put_row(t.started, row, H5T_NATIVE_DOUBLE, &r.started);
      put_row(t.seconds, row, H5T_NATIVE_DOUBLE, &r.seconds);
      put_matrices(t.timesteps, t.C, t.B, row, r.matrices ? &*r.matrices : nullptr, header.steps);
      Column* span_cols[] = {&t.params, &t.device, &t.reason, &t.warm_start, &t.solver, &t.options};
      for (size_t k = 0; k < 6; ++k) put_row(*span_cols[k], row, H5T_NATIVE_INT64, spans[k].data());
      flush();
      // Commit: the number column grows last.
      const int64_t number = r.number;
      put_row(t.number, row, H5T_NATIVE_INT64, &number);
      flush();
      ++cols.n_trials;
      numbers.insert(r.number);
    } catch (const Hdf5Failure& e) {
      failed = true;
      throw FileError(path, std::string("cannot write ") + who + ": " + write_failure(e));
    }
  }

  void write_baseline(const Baseline& b) {
    Hdf5Lock lock;
    const std::string who = "baseline '" + b.label + "'";
    check_matrices(b.matrices, who);
    try {
      BaselineColumns& c = cols.b;
      const hsize_t row = cols.n_baselines;
      const auto spans = append_text(
          c.text, {b.label, b.matrices.solver,
                   (b.matrices.options.is_null() ? json() : b.matrices.options).dump()});
      put_row(c.value, row, H5T_NATIVE_DOUBLE, &b.value);
      put_row(c.validation, row, H5T_NATIVE_DOUBLE, &b.validation);
      put_matrices(c.timesteps, c.C, c.B, row, &b.matrices, header.steps);
      put_row(c.solver, row, H5T_NATIVE_INT64, spans[1].data());
      put_row(c.options, row, H5T_NATIVE_INT64, spans[2].data());
      flush();
      put_row(c.label, row, H5T_NATIVE_INT64, spans[0].data());
      flush();
      ++cols.n_baselines;
    } catch (const Hdf5Failure& e) {
      failed = true;
      throw FileError(path, "cannot write " + who + ": " + write_failure(e));
    }
  }

  void write_validation(int trial, double value) {
    Hdf5Lock lock;
    if (!numbers.count(trial))
      throw ConfigError("trial number", "trial " + std::to_string(trial) + " is not in " + path);
    try {
      const hsize_t row = cols.n_validations;
      put_row(cols.v.value, row, H5T_NATIVE_DOUBLE, &value);
      flush();
      const int64_t number = trial;
      put_row(cols.v.trial, row, H5T_NATIVE_INT64, &number);
      flush();
      ++cols.n_validations;
    } catch (const Hdf5Failure& e) {
      failed = true;
      throw FileError(path, "cannot write the validation of trial " + std::to_string(trial) + ": " +
                                write_failure(e));
    }
  }

  // Creates a store at `path` (which must not exist), holding the writer lock, in SWMR write mode.
  // Unless `in_place`, the file is built under a temporary name and renamed to `path` (never over
  // an existing file) once its layout is complete, so a kill during creation leaves no half-made
  // store at `path`.
  static std::unique_ptr<Impl> create(const std::string& path, const StoreLayout& layout,
                                      bool in_place = false) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    Hdf5Lock lock;
    std::error_code ec;
    const std::string exists_msg =
        "already exists (a trial store is never overwritten; resume it instead)";
    if (std::filesystem::exists(path, ec)) throw FileError(path, exists_msg);
    const std::string tmp = in_place ? path : path + ".creating." + std::to_string(::getpid());
    std::filesystem::remove(tmp, ec);
    bool created = false;
    auto discard = [&] {
      impl->close_file_locked();
      if (created) std::filesystem::remove(tmp, ec);
    };
    try {
      Handle fapl = file_access();
      impl->file = Handle(H5Fcreate(tmp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl), "create");
      created = true;
      impl->lock_fd = lock_file(tmp);
      write_layout(impl->file, layout);
      h5(H5Fstart_swmr_write(impl->file), "H5Fstart_swmr_write");
      impl->header = read_header(impl->file);
      impl->cols = open_columns(impl->file, impl->header);
      sync_fd(impl->lock_fd, tmp);
    } catch (const Hdf5Failure& e) {
      impl->failed = true;
      discard();
      throw FileError(path, std::string("cannot create the trial store: ") + write_failure(e));
    } catch (const NotAStore& e) {
      discard();
      throw FileError(path, std::string("cannot create the trial store: ") + e.what());
    } catch (...) {
      discard();
      throw;
    }
    if (in_place) return impl;
    int moved = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (moved != 0 && (errno == EINVAL || errno == ENOSYS)) {  // no RENAME_NOREPLACE: link + unlink
      moved = ::link(tmp.c_str(), path.c_str());
      if (moved == 0) ::unlink(tmp.c_str());
    }
    if (moved != 0) {
      const int err = errno;
      discard();
      if (err == EEXIST) throw FileError(path, exists_msg);
      throw FileError(path, std::string("cannot create: ") + std::strerror(err));
    }
    sync_dir(path);
    return impl;
  }

  // Opens a cleanly closed store for SWMR writing; false when the file still carries the flags of
  // a writer that was killed. The writer lock (lock_fd) must already be held.
  bool open_clean() {
    Hdf5Lock lock;
    Handle fapl = file_access();
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl);
    if (f < 0) {
      const std::string err = hdf5_error();
      // A killed writer leaves its flags; a write that failed for want of space can also leave a
      // file shorter than its superblock's end of file, which only a SWMR reader opens: both are
      // rebuilt from what a reader sees.
      if (err.find("already open for write") != std::string::npos ||
          err.find("truncated file") != std::string::npos)
        return false;
      throw FileError(path, "cannot open for writing: " + err);
    }
    file = Handle(f);
    try {
      read_contents(file, &header);  // validates everything before the first append
      cols = open_columns(file, header);
      const auto stored = get_rows<int64_t>(cols.t.number, cols.n_trials, H5T_NATIVE_INT64);
      numbers.insert(stored.begin(), stored.end());
    } catch (const Hdf5Failure& e) {
      close_file_locked();
      throw FileError(path, std::string("damaged trial store: ") + e.what());
    } catch (const NotAStore& e) {
      close_file_locked();
      throw FileError(path, e.what());
    }
    return true;
  }
};

TrialStore::TrialStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrialStore::~TrialStore() = default;

std::unique_ptr<TrialStore> TrialStore::create(const std::string& path, const StoreLayout& layout) {
  const StoreLayout checked = checked_layout(layout);
  return std::unique_ptr<TrialStore>(new TrialStore(Impl::create(path, checked)));
}

std::unique_ptr<TrialStore> TrialStore::open(const std::string& path) {
  {
    Hdf5Lock lock;
    check_is_hdf5(path);
  }
  if (::access(path.c_str(), W_OK) != 0)
    throw FileError(path, std::string("is not writable: ") + std::strerror(errno));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->lock_fd = lock_file(path);
  // Refuse a file that is not a store before opening it for writing (which marks the superblock).
  {
    Hdf5Lock lock;
    Handle file;
    try {
      file = open_for_reading(path);
    } catch (const Hdf5Failure& e) {
      throw FileError(path, e.what());
    }
    try {
      read_header(file);
    } catch (const Hdf5Failure& e) {
      throw FileError(path, std::string("damaged trial store: ") + e.what());
    } catch (const NotAStore& e) {
      throw FileError(path, e.what());
    }
  }
  // A leftover of a recovery that was itself killed (we hold the lock: nobody else recovers).
  const std::string tmp = path + ".recovering";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (impl->open_clean()) return std::unique_ptr<TrialStore>(new TrialStore(std::move(impl)));
  Header header;
  const StoreContents contents = read_locked(path, &header);

  // The last writer was killed: rebuild the store from what a reader sees, beside the old file,
  // and rename it over the old one (atomic; the old file is intact until then).
  StoreLayout layout{contents.experiment, contents.experiment_hash, header.schedule, contents.steps,
                     contents.sample_counts};
  auto fresh = Impl::create(tmp, layout, /*in_place=*/true);
  fresh->sync = false;
  try {
    for (const Baseline& b : contents.baselines) fresh->write_baseline(b);
    for (const TrialRecord& r : contents.trials) fresh->write(r);
    for (const auto& [trial, value] : contents.validations) fresh->write_validation(trial, value);
    {
      Hdf5Lock lock;
      fresh->close_file_locked();
    }
    sync_fd(fresh->lock_fd, tmp);
  } catch (...) {
    fresh.reset();
    std::filesystem::remove(tmp, ec);
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fresh.reset();
    std::filesystem::remove(tmp, ec);
    throw FileError(
        path, std::string("cannot replace it with the recovered store: ") + std::strerror(err));
  }
  sync_dir(path);
  // Keep the lock on the new file (it was taken on `tmp`, the same inode), drop the old one.
  ::close(impl->lock_fd);
  impl->lock_fd = fresh->lock_fd;
  fresh->lock_fd = -1;
  if (!impl->open_clean())
    throw FileError(path, "the recovered store is still marked open for writing");
  return std::unique_ptr<TrialStore>(new TrialStore(std::move(impl)));
}

void TrialStore::write(const TrialRecord& record) { impl_->write(record); }

void TrialStore::write_baseline(const Baseline& baseline) { impl_->write_baseline(baseline); }

void TrialStore::write_validation(int trial, double value) {
  impl_->write_validation(trial, value);
}

const std::string& TrialStore::path() const { return impl_->path; }

StoreContents read_store(const std::string& path) { return read_locked(path, nullptr); }

const Baseline* find_baseline(const StoreContents& contents, std::string_view label) {
  for (const Baseline& b : contents.baselines)
    if (b.label == label) return &b;
  return nullptr;
}

}  // namespace samplersearch
