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
#include <hdf5.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "samplersearch-trial-store";
constexpr int64_t kFormatVersion = 1;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Target size of one chunk of a per-record column (rows per chunk = this / row size, 1…64).
constexpr hsize_t kChunkBytes = 16384;
constexpr hsize_t kTextChunk = 8192;

// Every HDF5 call in this file holds this lock (the library build is not thread-safe).
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// An HDF5 call failed; `what` plus the library's error stack. Turned into FileError(path, ...) at
// the public boundary, where the path is known.
class Hdf5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Holds hdf5_mutex() and silences HDF5's automatic error printing for the scope.
class Hdf5Lock {
 public:
  Hdf5Lock() : lock_(hdf5_mutex()) {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~Hdf5Lock() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  Hdf5Lock(const Hdf5Lock&) = delete;
  Hdf5Lock& operator=(const Hdf5Lock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The current HDF5 error stack as "outer: inner: innermost" (and clears it).
std::string hdf5_error() {
  std::vector<std::string> parts;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        auto& v = *static_cast<std::vector<std::string>*>(out);
        if (e->desc && *e->desc && (v.empty() || v.back() != e->desc)) v.emplace_back(e->desc);
        return 0;
      },
      &parts);
  H5Eclear2(H5E_DEFAULT);
  std::string msg;
  for (const std::string& p : parts) msg += (msg.empty() ? "" : ": ") + p;
  return msg.empty() ? "unknown HDF5 error" : msg;
}

// Throws Hdf5Failure("what: <HDF5 error stack>") when an HDF5 call returned a negative value.
template <class T>
T h5(T result, const std::string& what) {
  if (result < 0) throw Hdf5Failure(what + ": " + hdf5_error());
  return result;
}

// An owned hid_t, closed with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(hid_t id, const std::string& what) : id_(h5(id, what)) {}
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles are passed straight to the C API
  void reset() {
    if (id_ < 0) return;
    switch (H5Iget_type(id_)) {
      case H5I_FILE:
        H5Fclose(id_);
        break;
      case H5I_GROUP:
        H5Gclose(id_);
        break;
      case H5I_DATASET:
        H5Dclose(id_);
        break;
      case H5I_DATASPACE:
        H5Sclose(id_);
        break;
      case H5I_DATATYPE:
        H5Tclose(id_);
        break;
      case H5I_ATTR:
        H5Aclose(id_);
        break;
      case H5I_GENPROP_LST:
        H5Pclose(id_);
        break;
      default:
        break;
    }
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
};

// File access: the latest format (SWMR needs it) and no HDF5 flock (readers would otherwise block
// a resume; writers are excluded by our own lock).
Handle file_access() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  h5(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  h5(H5Pset_file_locking(fapl, false, true), "H5Pset_file_locking");
  return fapl;
}

Handle utf8_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), "H5Tcopy");
  h5(H5Tset_size(t, H5T_VARIABLE), "H5Tset_size");
  h5(H5Tset_cset(t, H5T_CSET_UTF8), "H5Tset_cset");
  return t;
}

// The TrialState enum as stored: int8 with Optuna's names.
Handle state_type(hid_t base) {
  Handle t(H5Tenum_create(base), "H5Tenum_create");
  for (TrialState s : {TrialState::running, TrialState::complete, TrialState::pruned,
                       TrialState::fail, TrialState::waiting}) {
    const auto v = static_cast<int8_t>(s);
    h5(H5Tenum_insert(t, std::string(to_string(s)).c_str(), &v), "H5Tenum_insert");
  }
  return t;
}

void write_string_attr(hid_t loc, const char* name, const std::string& value) {
  Handle type = utf8_string_type();
  Handle space(H5Screate(H5S_SCALAR), "H5Screate");
  Handle a(H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
           std::string("create attribute ") + name);
  const char* p = value.c_str();
  h5(H5Awrite(a, type, &p), std::string("write attribute ") + name);
}

void write_int_attr(hid_t loc, const char* name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), "H5Screate");
  Handle a(H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
           std::string("create attribute ") + name);
  h5(H5Awrite(a, H5T_NATIVE_INT64, &value), std::string("write attribute ") + name);
}

// Reads a variable- or fixed-length string from an attribute or a scalar dataset.
std::string read_string(hid_t obj, bool is_attr, const std::string& what) {
  Handle ftype(is_attr ? H5Aget_type(obj) : H5Dget_type(obj), what);
  if (H5Tget_class(ftype) != H5T_STRING) throw Hdf5Failure(what + " is not a string");
  if (H5Tis_variable_str(ftype) > 0) {
    Handle mtype = utf8_string_type();
    char* p = nullptr;
    h5(is_attr ? H5Aread(obj, mtype, &p) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p),
       "read " + what);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t size = H5Tget_size(ftype);
  std::string s(size, '\0');
  Handle mtype(H5Tcopy(ftype), "H5Tcopy");
  h5(is_attr ? H5Aread(obj, mtype, s.data())
             : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()),
     "read " + what);
  s.resize(std::strlen(s.c_str()));
  return s;
}

// One per-record column: the dataset and its shape after the record axis.
struct Column {
  Handle ds;
  std::vector<hsize_t> inner;
  hsize_t row_elems() const {
    hsize_t n = 1;
    for (hsize_t d : inner) n *= d;
    return n;
  }
};

// Creates an extendible column name[0, inner...] of `type` filled with `fill`.
void create_column(hid_t group, const char* name, hid_t type, const std::vector<hsize_t>& inner,
                   const void* fill, hid_t fill_type) {
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{1};
  hsize_t row_bytes = H5Tget_size(type);
  for (hsize_t d : inner) {
    dims.push_back(d);
    // A zero-length inner axis (no sample counts) needs a growable axis to have a chunk size.
    maxdims.push_back(d == 0 ? H5S_UNLIMITED : d);
    chunk.push_back(std::max<hsize_t>(d, 1));
    row_bytes *= std::max<hsize_t>(d, 1);
  }
  if (std::string_view(name) == "text")
    chunk[0] = kTextChunk;
  else if (inner.empty())
    chunk[0] = 256;
  else
    chunk[0] = std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, 64);
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()),
               "H5Screate_simple");
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  h5(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk");
  if (fill) h5(H5Pset_fill_value(dcpl, fill_type, fill), "H5Pset_fill_value");
  Handle ds(H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
            std::string("create dataset ") + name);
}

// Opens group/name and checks its rank and inner dimensions; returns it with its length.
Column open_column(hid_t group, const std::string& gname, const char* name,
                   const std::vector<hsize_t>& inner, hsize_t& length) {
  const std::string full = "/" + gname + "/" + name;
  if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
    throw Hdf5Failure("dataset '" + full + "' is missing");
  Column c{Handle(H5Dopen2(group, name, H5P_DEFAULT), "open " + full), inner};
  Handle space(H5Dget_space(c.ds), "H5Dget_space " + full);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  bool ok = rank == static_cast<int>(inner.size()) + 1;
  for (size_t k = 0; ok && k < inner.size(); ++k) ok = dims[k + 1] == inner[k];
  if (!ok) {
    auto shape = [](const std::vector<hsize_t>& d, bool first_n) {
      std::string s = first_n ? "[n" : "[";
      for (size_t k = 0; k < d.size(); ++k) s += (k || first_n ? ", " : "") + std::to_string(d[k]);
      return s + "]";
    };
    throw Hdf5Failure("dataset '" + full + "' has shape " + shape(dims, false) + ", expected " +
                      shape(inner, true));
  }
  length = dims[0];
  return c;
}

// Writes row `row` of a column (growing it when shorter); data holds row_elems() values.
void put_row(Column& c, hsize_t row, hid_t mem_type, const void* data) {
  const int rank = static_cast<int>(c.inner.size()) + 1;
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  {
    Handle space(H5Dget_space(c.ds), "H5Dget_space");
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  }
  if (dims[0] < row + 1) {
    dims[0] = row + 1;
    h5(H5Dset_extent(c.ds, dims.data()), "H5Dset_extent");
  }
  if (c.row_elems() == 0) return;
  std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count{1};
  start[0] = row;
  count.insert(count.end(), c.inner.begin(), c.inner.end());
  Handle fspace(H5Dget_space(c.ds), "H5Dget_space");
  h5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
     "H5Sselect_hyperslab");
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr), "H5Screate_simple");
  h5(H5Dwrite(c.ds, mem_type, mspace, fspace, H5P_DEFAULT, data), "H5Dwrite");
}

// Reads rows [0, n) of a column into a vector of T.
template <class T>
std::vector<T> get_rows(const Column& c, hsize_t n, hid_t mem_type) {
  std::vector<T> out(static_cast<size_t>(n * c.row_elems()));
  if (out.empty()) return out;
  const int rank = static_cast<int>(c.inner.size()) + 1;
  std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count{n};
  count.insert(count.end(), c.inner.begin(), c.inner.end());
  Handle fspace(H5Dget_space(c.ds), "H5Dget_space");
  h5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
     "H5Sselect_hyperslab");
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr), "H5Screate_simple");
  h5(H5Dread(c.ds, mem_type, mspace, fspace, H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

// The strings of a group: a uint8 heap plus (offset, length) columns pointing into it.
struct Text {
  Column heap;
  hsize_t size = 0;  // bytes in the heap; new strings go after them
};

// Appends `pieces` to the heap; returns their (offset, length) spans.
std::vector<std::array<int64_t, 2>> append_text(Text& t, const std::vector<std::string>& pieces) {
  std::string bytes;
  std::vector<std::array<int64_t, 2>> spans;
  for (const std::string& p : pieces) {
    spans.push_back({static_cast<int64_t>(t.size + bytes.size()), static_cast<int64_t>(p.size())});
    bytes += p;
  }
  if (bytes.empty()) return spans;
  const hsize_t end = t.size + bytes.size();
  h5(H5Dset_extent(t.heap.ds, &end), "H5Dset_extent text");
  Handle fspace(H5Dget_space(t.heap.ds), "H5Dget_space");
  const hsize_t start = t.size, count = bytes.size();
  h5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nullptr, &count, nullptr),
     "H5Sselect_hyperslab");
  Handle mspace(H5Screate_simple(1, &count, nullptr), "H5Screate_simple");
  h5(H5Dwrite(t.heap.ds, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, bytes.data()),
     "H5Dwrite text");
  t.size = end;
  return spans;
}

// The string at span i of `spans` (n×2) within `heap`.
std::string span_text(const std::vector<int64_t>& spans, size_t i, const std::string& heap,
                      const std::string& what) {
  const int64_t off = spans[2 * i], len = spans[2 * i + 1];
  if (off < 0 || len < 0 || static_cast<uint64_t>(off + len) > heap.size())
    throw Hdf5Failure(what + " of record " + std::to_string(i) + " points outside the text heap");
  return heap.substr(static_cast<size_t>(off), static_cast<size_t>(len));
}

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

// Checks a layout before anything is created; fills in a missing hash.
StoreLayout checked_layout(StoreLayout layout) {
  if (layout.steps < 1)
    throw ConfigError("steps", "must be at least 1, got " + std::to_string(layout.steps));
  if (!layout.schedule) throw ConfigError("schedule", "is missing");
  for (size_t k = 0; k < layout.sample_counts.size(); ++k)
    if (layout.sample_counts[k] < 1 ||
        (k && layout.sample_counts[k] <= layout.sample_counts[k - 1]))
      throw ConfigError("sample_counts", "must be positive and increasing");
  const std::string hash = sha256_hex(layout.experiment);
  if (layout.experiment_hash.empty()) layout.experiment_hash = hash;
  if (layout.experiment_hash != hash)
    throw ConfigError("experiment_hash",
                      "is not the SHA-256 of the experiment text (expected " + hash + ")");
  return layout;
}

// Writes the fixed part of a new store and creates every column (before SWMR starts).
void write_layout(hid_t file, const StoreLayout& layout) {
  write_string_attr(file, "format", kFormat);
  write_int_attr(file, "format_version", kFormatVersion);
  write_string_attr(file, "experiment_hash", layout.experiment_hash);
  write_int_attr(file, "steps", layout.steps);
  write_string_attr(file, "schedule", std::string(layout.schedule->name()));
  write_string_attr(file, "schedule_params", layout.schedule->params().dump());
  {
    Handle type = utf8_string_type();
    Handle space(H5Screate(H5S_SCALAR), "H5Screate");
    Handle ds(H5Dcreate2(file, "experiment", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              "create dataset experiment");
    const char* p = layout.experiment.c_str();
    h5(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "write experiment");
  }
  {
    const hsize_t f = layout.sample_counts.size();
    Handle space(H5Screate_simple(1, &f, nullptr), "H5Screate_simple");
    Handle ds(H5Dcreate2(file, "sample_counts", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT),
              "create dataset sample_counts");
    if (f)
      h5(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, layout.sample_counts.data()),
         "write sample_counts");
  }
  const auto n = static_cast<hsize_t>(layout.steps);
  const hsize_t f = layout.sample_counts.size();
  const int64_t no_row = -1;
  const std::array<int64_t, 2> no_span{-1, -1};
  auto f64 = [&](hid_t g, const char* name, std::vector<hsize_t> inner) {
    create_column(g, name, H5T_IEEE_F64LE, inner, &kNaN, H5T_NATIVE_DOUBLE);
  };
  auto span = [&](hid_t g, const char* name) {
    create_column(g, name, H5T_STD_I64LE, {2}, no_span.data(), H5T_NATIVE_INT64);
  };
  {
    Handle g(H5Gcreate2(file, "trials", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /trials");
    Handle st = state_type(H5T_STD_I8LE);
    const int8_t fail = static_cast<int8_t>(TrialState::fail);
    Handle native_st = state_type(H5T_NATIVE_INT8);
    create_column(g, "state", st, {}, &fail, native_st);
    f64(g, "value", {});
    f64(g, "intermediate", {f});
    f64(g, "started", {});
    f64(g, "seconds", {});
    f64(g, "timesteps", {n + 1});
    f64(g, "C", {n + 1, n});
    f64(g, "B", {n + 1, n + 1});
    for (const char* s : {"params", "device", "reason", "warm_start", "solver", "options"})
      span(g, s);
    const uint8_t zero = 0;
    create_column(g, "text", H5T_STD_U8LE, {}, &zero, H5T_NATIVE_UINT8);
    create_column(g, "number", H5T_STD_I64LE, {}, &no_row, H5T_NATIVE_INT64);
  }
  {
    Handle g(H5Gcreate2(file, "baselines", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "create /baselines");
    f64(g, "value", {});
    f64(g, "validation", {});
    f64(g, "timesteps", {n + 1});
    f64(g, "C", {n + 1, n});
    f64(g, "B", {n + 1, n + 1});
    for (const char* s : {"solver", "options"}) span(g, s);
    const uint8_t zero = 0;
    create_column(g, "text", H5T_STD_U8LE, {}, &zero, H5T_NATIVE_UINT8);
    span(g, "label");
  }
  {
    Handle g(H5Gcreate2(file, "validations", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "create /validations");
    f64(g, "value", {});
    create_column(g, "trial", H5T_STD_I64LE, {}, &no_row, H5T_NATIVE_INT64);
  }
}

std::string read_attr_string(hid_t file, const char* name) {
  if (H5Aexists(file, name) <= 0)
    throw Hdf5Failure(std::string("attribute '") + name + "' is missing");
  Handle a(H5Aopen(file, name, H5P_DEFAULT), std::string("open attribute ") + name);
  return read_string(a, true, std::string("attribute '") + name + "'");
}

int64_t read_attr_int(hid_t file, const char* name) {
  if (H5Aexists(file, name) <= 0)
    throw Hdf5Failure(std::string("attribute '") + name + "' is missing");
  Handle a(H5Aopen(file, name, H5P_DEFAULT), std::string("open attribute ") + name);
  int64_t v = 0;
  h5(H5Aread(a, H5T_NATIVE_INT64, &v), std::string("read attribute ") + name);
  return v;
}

// A file-level problem that is not an HDF5 library failure (not a store, damaged contents).
class NotAStore : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Header read_header(hid_t file) {
  if (H5Aexists(file, "format") <= 0)
    throw NotAStore("is an HDF5 file but not a samplersearch trial store (no 'format' attribute)");
  const std::string format = read_attr_string(file, "format");
  if (format != kFormat)
    throw NotAStore("is an HDF5 file but not a samplersearch trial store (format is '" + format +
                    "')");
  const int64_t version = read_attr_int(file, "format_version");
  if (version != kFormatVersion)
    throw NotAStore("trial store format_version is " + std::to_string(version) +
                    ", this build reads " + std::to_string(kFormatVersion));
  Header h;
  h.experiment_hash = read_attr_string(file, "experiment_hash");
  const int64_t steps = read_attr_int(file, "steps");
  if (steps < 1 || steps > 100000)
    throw NotAStore("damaged trial store: steps is " + std::to_string(steps));
  h.steps = static_cast<int>(steps);
  const std::string sched = read_attr_string(file, "schedule");
  const std::string sched_params = read_attr_string(file, "schedule_params");
  try {
    h.schedule = make_schedule(sched, json::parse(sched_params));
  } catch (const json::exception& e) {
    throw NotAStore(std::string("damaged trial store: schedule_params is not JSON: ") + e.what());
  } catch (const ConfigError& e) {
    throw NotAStore(std::string("trial store schedule: ") + e.what());
  }
  if (H5Lexists(file, "experiment", H5P_DEFAULT) <= 0)
    throw NotAStore("damaged trial store: dataset '/experiment' is missing");
  {
    Handle ds(H5Dopen2(file, "experiment", H5P_DEFAULT), "open /experiment");
    h.experiment = read_string(ds, false, "dataset '/experiment'");
  }
  if (sha256_hex(h.experiment) != h.experiment_hash)
    throw NotAStore("damaged trial store: experiment_hash does not match the stored experiment");
  if (H5Lexists(file, "sample_counts", H5P_DEFAULT) <= 0)
    throw NotAStore("damaged trial store: dataset '/sample_counts' is missing");
  {
    Handle ds(H5Dopen2(file, "sample_counts", H5P_DEFAULT), "open /sample_counts");
    Handle space(H5Dget_space(ds), "H5Dget_space");
    if (H5Sget_simple_extent_ndims(space) != 1)
      throw NotAStore("damaged trial store: '/sample_counts' is not 1-D");
    hsize_t f = 0;
    H5Sget_simple_extent_dims(space, &f, nullptr);
    h.sample_counts.resize(f);
    if (f)
      h5(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, h.sample_counts.data()),
         "read /sample_counts");
  }
  return h;
}

// Opens every column of both groups; the committed counts are the commit columns' lengths,
// cut at the first row a killed writer grew but did not fill (-1).
struct Columns {
  TrialColumns t;
  BaselineColumns b;
  ValidationColumns v;
  hsize_t n_trials = 0, n_baselines = 0, n_validations = 0;
};

Columns open_columns(hid_t file, const Header& h) {
  Columns c;
  const auto n = static_cast<hsize_t>(h.steps);
  const hsize_t f = h.sample_counts.size();
  for (const char* g : {"trials", "baselines", "validations"})
    if (H5Lexists(file, g, H5P_DEFAULT) <= 0)
      throw NotAStore(std::string("damaged trial store: group '/") + g + "' is missing");
  Handle tg(H5Gopen2(file, "trials", H5P_DEFAULT), "open /trials");
  Handle bg(H5Gopen2(file, "baselines", H5P_DEFAULT), "open /baselines");
  Handle vg(H5Gopen2(file, "validations", H5P_DEFAULT), "open /validations");
  std::vector<hsize_t> lengths;
  std::vector<hid_t> datasets;
  auto col = [&](hid_t g, const std::string& gname, const char* name, std::vector<hsize_t> inner) {
    hsize_t len = 0;
    Column c1 = open_column(g, gname, name, inner, len);
    lengths.push_back(len);
    datasets.push_back(c1.ds.get());
    return c1;
  };
  // Every column must reach the commit column. A SWMR reader can still hold an older view of a
  // column's extent (HDF5 caches metadata it read earlier, e.g. with the group); H5Drefresh
  // re-reads it. A column still short after that is damage.
  auto check_lengths = [&](hsize_t committed, const char* gname) {
    for (size_t i = 0; i < lengths.size(); ++i) {
      for (int attempt = 0; lengths[i] < committed && attempt < 100; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (H5Drefresh(datasets[i]) < 0) {
          H5Eclear2(H5E_DEFAULT);
          break;
        }
        Handle space(H5Dget_space(datasets[i]), "H5Dget_space");
        hsize_t dims[4] = {0, 0, 0, 0};
        H5Sget_simple_extent_dims(space, dims, nullptr);
        lengths[i] = dims[0];
      }
      if (lengths[i] < committed)
        throw NotAStore(std::string("damaged trial store: a column of /") + gname + " has " +
                        std::to_string(lengths[i]) + " rows, the commit column " +
                        std::to_string(committed));
    }
    lengths.clear();
    datasets.clear();
  };
  // Rows committed in a commit column: its length, cut at the first row still -1. The commit
  // column is opened FIRST: a SWMR reader sees each dataset as it is when it opens it, and every
  // other column was grown before the commit column, so opened later it is at least as long.
  auto committed_rows = [&](Column& commit, hid_t g, const std::string& gname, const char* name,
                            std::vector<hsize_t> inner) {
    hsize_t len = 0;
    commit = open_column(g, gname, name, inner, len);
    const auto v = get_rows<int64_t>(commit, len, H5T_NATIVE_INT64);
    const size_t stride = inner.empty() ? 1 : inner[0];
    hsize_t k = 0;
    while (k < len && v[k * stride] >= 0) ++k;
    return k;
  };
  TrialColumns& t = c.t;
  c.n_trials = committed_rows(t.number, tg, "trials", "number", {});
  t.state = col(tg, "trials", "state", {});
  t.value = col(tg, "trials", "value", {});
  t.intermediate = col(tg, "trials", "intermediate", {f});
  t.started = col(tg, "trials", "started", {});
  t.seconds = col(tg, "trials", "seconds", {});
  t.timesteps = col(tg, "trials", "timesteps", {n + 1});
  t.C = col(tg, "trials", "C", {n + 1, n});
  t.B = col(tg, "trials", "B", {n + 1, n + 1});
  t.params = col(tg, "trials", "params", {2});
  t.device = col(tg, "trials", "device", {2});
  t.reason = col(tg, "trials", "reason", {2});
  t.warm_start = col(tg, "trials", "warm_start", {2});
  t.solver = col(tg, "trials", "solver", {2});
  t.options = col(tg, "trials", "options", {2});
  t.text.heap = col(tg, "trials", "text", {});
  t.text.size = lengths.back();
  lengths.pop_back();
  datasets.pop_back();
  check_lengths(c.n_trials, "trials");
  BaselineColumns& b = c.b;
  c.n_baselines = committed_rows(b.label, bg, "baselines", "label", {2});
  b.value = col(bg, "baselines", "value", {});
  b.validation = col(bg, "baselines", "validation", {});
  b.timesteps = col(bg, "baselines", "timesteps", {n + 1});
  b.C = col(bg, "baselines", "C", {n + 1, n});
  b.B = col(bg, "baselines", "B", {n + 1, n + 1});
  b.solver = col(bg, "baselines", "solver", {2});
  b.options = col(bg, "baselines", "options", {2});
  b.text.heap = col(bg, "baselines", "text", {});
  b.text.size = lengths.back();
  lengths.pop_back();
  datasets.pop_back();
  check_lengths(c.n_baselines, "baselines");
  c.n_validations = committed_rows(c.v.trial, vg, "validations", "trial", {});
  c.v.value = col(vg, "validations", "value", {});
  check_lengths(c.n_validations, "validations");
  return c;
}

std::string read_heap(const Text& t) {
  const auto bytes = get_rows<uint8_t>(t.heap, t.size, H5T_NATIVE_UINT8);
  return std::string(bytes.begin(), bytes.end());
}

// Matrices i of a group from its flat columns; nullopt when the options span is empty.
std::optional<Matrices> matrices_at(size_t i, int steps, const std::vector<double>& times,
                                    const std::vector<double>& C, const std::vector<double>& B,
                                    const std::string& solver, const std::string& options,
                                    const std::shared_ptr<const Schedule>& schedule) {
  if (options.empty()) return std::nullopt;
  const auto n = static_cast<size_t>(steps);
  Matrices m;
  m.schedule = schedule;
  m.times.assign(times.begin() + static_cast<long>(i * (n + 1)),
                 times.begin() + static_cast<long>((i + 1) * (n + 1)));
  m.signal = Eigen::Map<const RowMatrix>(C.data() + i * (n + 1) * n, static_cast<long>(n + 1),
                                         static_cast<long>(n));
  m.noise = Eigen::Map<const RowMatrix>(B.data() + i * (n + 1) * (n + 1), static_cast<long>(n + 1),
                                        static_cast<long>(n + 1));
  m.solver = solver;
  try {
    m.options = json::parse(options);
  } catch (const json::exception& e) {
    throw NotAStore(std::string("damaged trial store: matrix options are not JSON: ") + e.what());
  }
  return m;
}

// Reads the whole store from an open file.
StoreContents read_contents(hid_t file, Header* header_out = nullptr) {
  Header h = read_header(file);
  Columns c = open_columns(file, h);
  StoreContents out;
  out.experiment = h.experiment;
  out.experiment_hash = h.experiment_hash;
  out.steps = h.steps;
  out.sample_counts = h.sample_counts;
  const size_t f = h.sample_counts.size();
  {
    const BaselineColumns& b = c.b;
    const hsize_t m = c.n_baselines;
    const auto value = get_rows<double>(b.value, m, H5T_NATIVE_DOUBLE);
    const auto validation = get_rows<double>(b.validation, m, H5T_NATIVE_DOUBLE);
    const auto times = get_rows<double>(b.timesteps, m, H5T_NATIVE_DOUBLE);
    const auto C = get_rows<double>(b.C, m, H5T_NATIVE_DOUBLE);
    const auto B = get_rows<double>(b.B, m, H5T_NATIVE_DOUBLE);
    const auto label = get_rows<int64_t>(b.label, m, H5T_NATIVE_INT64);
    const auto solver = get_rows<int64_t>(b.solver, m, H5T_NATIVE_INT64);
    const auto options = get_rows<int64_t>(b.options, m, H5T_NATIVE_INT64);
    const std::string heap = read_heap(b.text);
    for (size_t i = 0; i < m; ++i) {
      Baseline bl;
      bl.label = span_text(label, i, heap, "/baselines/label");
      bl.value = value[i];
      bl.validation = validation[i];
      auto mat =
          matrices_at(i, h.steps, times, C, B, span_text(solver, i, heap, "/baselines/solver"),
                      span_text(options, i, heap, "/baselines/options"), h.schedule);
      if (mat) bl.matrices = std::move(*mat);
      out.baselines.push_back(std::move(bl));
    }
  }
  {
    const TrialColumns& t = c.t;
    const hsize_t m = c.n_trials;
    const auto number = get_rows<int64_t>(t.number, m, H5T_NATIVE_INT64);
    Handle st = state_type(H5T_NATIVE_INT8);
    const auto state = get_rows<int8_t>(t.state, m, st);
    const auto value = get_rows<double>(t.value, m, H5T_NATIVE_DOUBLE);
    const auto inter = get_rows<double>(t.intermediate, m, H5T_NATIVE_DOUBLE);
    const auto started = get_rows<double>(t.started, m, H5T_NATIVE_DOUBLE);
    const auto seconds = get_rows<double>(t.seconds, m, H5T_NATIVE_DOUBLE);
    const auto times = get_rows<double>(t.timesteps, m, H5T_NATIVE_DOUBLE);
    const auto C = get_rows<double>(t.C, m, H5T_NATIVE_DOUBLE);
    const auto B = get_rows<double>(t.B, m, H5T_NATIVE_DOUBLE);
    const auto params = get_rows<int64_t>(t.params, m, H5T_NATIVE_INT64);
    const auto device = get_rows<int64_t>(t.device, m, H5T_NATIVE_INT64);
    const auto reason = get_rows<int64_t>(t.reason, m, H5T_NATIVE_INT64);
    const auto warm = get_rows<int64_t>(t.warm_start, m, H5T_NATIVE_INT64);
    const auto solver = get_rows<int64_t>(t.solver, m, H5T_NATIVE_INT64);
    const auto options = get_rows<int64_t>(t.options, m, H5T_NATIVE_INT64);
    const std::string heap = read_heap(t.text);
    for (size_t i = 0; i < m; ++i) {
      TrialRecord r;
      r.number = static_cast<int>(number[i]);
      if (state[i] < 0 || state[i] > static_cast<int8_t>(TrialState::waiting))
        throw NotAStore("damaged trial store: trial state code " + std::to_string(state[i]));
      r.state = static_cast<TrialState>(state[i]);
      const std::string ptext = span_text(params, i, heap, "/trials/params");
      try {
        r.params = json::parse(ptext);
      } catch (const json::exception& e) {
        throw NotAStore("damaged trial store: params of trial " + std::to_string(r.number) +
                        " are not JSON: " + e.what());
      }
      r.matrices =
          matrices_at(i, h.steps, times, C, B, span_text(solver, i, heap, "/trials/solver"),
                      span_text(options, i, heap, "/trials/options"), h.schedule);
      for (size_t k = 0; k < f; ++k)
        if (!std::isnan(inter[i * f + k]))
          r.intermediate.emplace_back(h.sample_counts[k], inter[i * f + k]);
      if (!std::isnan(value[i])) r.value = value[i];
      r.started = started[i];
      r.seconds = seconds[i];
      r.device = span_text(device, i, heap, "/trials/device");
      r.reason = span_text(reason, i, heap, "/trials/reason");
      r.warm_start = span_text(warm, i, heap, "/trials/warm_start");
      out.trials.push_back(std::move(r));
    }
  }
  {
    const auto trial = get_rows<int64_t>(c.v.trial, c.n_validations, H5T_NATIVE_INT64);
    const auto value = get_rows<double>(c.v.value, c.n_validations, H5T_NATIVE_DOUBLE);
    for (size_t i = 0; i < trial.size(); ++i)
      out.validations[static_cast<int>(trial[i])] = value[i];
  }
  if (header_out) *header_out = std::move(h);
  return out;
}

// Opens a file for reading: SWMR read (works while a writer is active or after it was killed),
// else a plain read-only open (a file that is not in the latest format).
Handle open_for_reading(const std::string& path) {
  Handle fapl = file_access();
  h5(H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
  if (f >= 0) return Handle(f);
  const std::string swmr_error = hdf5_error();
  f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (f >= 0) return Handle(f);
  throw Hdf5Failure("cannot open for reading: " + swmr_error);
}

// FileError for a path that does not exist or is not an HDF5 file, before HDF5 opens it.
void check_is_hdf5(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileError(path, "does not exist");
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw FileError(path, "is not an HDF5 file");
  }
}

// The writer lock: an open-file-description write lock on byte 2^62 of the file (advisory, so
// readers never notice it; released by the kernel when the process dies).
constexpr off_t kLockOffset = off_t{1} << 62;

int lock_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    throw FileError(path, std::string("cannot open for writing: ") + std::strerror(errno));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kLockOffset;
  fl.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EACCES || err == EAGAIN)
      throw FileError(path, "is open for writing by another process (a search is running on it)");
    throw FileError(path, std::string("cannot lock: ") + std::strerror(err));
  }
  // The lock must be on the file the path names now (a concurrent resume may have replaced it).
  struct stat a {
  }, b{};
  if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0 || a.st_ino != b.st_ino ||
      a.st_dev != b.st_dev) {
    ::close(fd);
    throw FileError(path, "was replaced while it was being opened; try again");
  }
  return fd;
}

void sync_fd(int fd, const std::string& path) {
  if (fd >= 0 && ::fdatasync(fd) != 0)
    throw FileError(path, std::string("fsync failed: ") + std::strerror(errno));
}

void sync_dir(const std::string& path) {
  const std::string dir = std::filesystem::absolute(path).parent_path().string();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// The store's contents and schedule as a SWMR reader sees them.
StoreContents read_locked(const std::string& path, Header* header) {
  Hdf5Lock lock;
  check_is_hdf5(path);
  Handle file;
  try {
    file = open_for_reading(path);
  } catch (const Hdf5Failure& e) {
    throw FileError(path, e.what());
  }
  try {
    return read_contents(file, header);
  } catch (const Hdf5Failure& e) {
    throw FileError(path, std::string("damaged trial store: ") + e.what());
  } catch (const NotAStore& e) {
    throw FileError(path, e.what());
  }
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

  ~Impl() {
    if (file.get() >= 0) {
      Hdf5Lock lock;
      close_file_locked();
    }
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // Closes the HDF5 file (clearing its SWMR-write flags); the caller holds Hdf5Lock.
  void close_file_locked() {
    cols = Columns{};  // datasets before the file
    file.reset();
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
      throw FileError(path, std::string("cannot write ") + who + ": " + e.what());
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
      throw FileError(path, "cannot write " + who + ": " + e.what());
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
      throw FileError(
          path, "cannot write the validation of trial " + std::to_string(trial) + ": " + e.what());
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
      discard();
      throw FileError(path, std::string("cannot create the trial store: ") + e.what());
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
      if (err.find("already open for write") != std::string::npos) return false;
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

// FIPS 180-4 SHA-256.
std::string sha256_hex(const std::string& bytes) {
  static constexpr std::array<uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = bytes;
  const uint64_t bits = static_cast<uint64_t>(bytes.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int s = 56; s >= 0; s -= 8) msg.push_back(static_cast<char>((bits >> s) & 0xff));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t block = 0; block < msg.size(); block += 64) {
    std::array<uint32_t, 64> w{};
    for (size_t i = 0; i < 16; ++i) {
      w[i] = 0;
      for (size_t b = 0; b < 4; ++b)
        w[i] = (w[i] << 8) | static_cast<uint8_t>(msg[block + 4 * i + b]);
    }
    for (size_t i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, hh] = h;
    for (size_t i = 0; i < 64; ++i) {
      const uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<uint32_t, 8> add = {a, b, c, d, e, f, g, hh};
    for (size_t i = 0; i < 8; ++i) h[i] += add[i];
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int s = 28; s >= 0; s -= 4) out.push_back(hex[(v >> s) & 0xf]);
  return out;
}

}  // namespace samplersearch
