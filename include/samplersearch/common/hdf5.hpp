#pragma once
// The one layer over HDF5's C API that every file format of the project goes through (trial store,
// matrix files, statistics, caches). HDF5 is built without thread safety here, so every call runs
// under one process-wide mutex (Hdf5Lock); a failed call becomes Hdf5Failure carrying the library's
// error stack; identifiers are owned by Handle. Attributes and datasets are read and written only
// through the helpers below, so each on-disk type is spelled once.
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace samplersearch::hdf5 {

// An HDF5 call failed; `what` plus the library's error stack. Turned into FileError(path, ...) at
// the public boundary, where the path is known.
class Hdf5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file's content is damaged in a way a reader detected before asking HDF5 to follow it (an
// attribute holding several values where one is expected, a variable-length string claiming more
// bytes than the file has); `what` is the whole reason, shown as is after the path.
class Hdf5Damaged : public Hdf5Failure {
 public:
  using Hdf5Failure::Hdf5Failure;
};

// Holds the process-wide HDF5 mutex and silences HDF5's automatic error printing for the scope.
// Not recursive: taken once, at the public entry point of a reader or writer.
class Hdf5Lock {
 public:
  Hdf5Lock();
  ~Hdf5Lock();
  Hdf5Lock(const Hdf5Lock&) = delete;
  Hdf5Lock& operator=(const Hdf5Lock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The current HDF5 error stack as "outer: inner: innermost" (and clears it).
std::string hdf5_error();

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
// a resume; writers are excluded by the store's own lock).
Handle file_access();
// A variable-length UTF-8 string type.
Handle utf8_string_type();

// A new file at `path` (truncated when it exists), default format; Hdf5Failure when it cannot be.
Handle create_file(const std::string& path);
// `path` opened read-only, default access; Hdf5Failure when it is not a readable HDF5 file.
Handle open_file_read(const std::string& path);
// `path` opened for reading and writing (objects are added to it), default access.
Handle open_file_write(const std::string& path);
// Whether object `name` (a dataset or group) exists under `loc`; whether attribute `name` does
// (after check_object_header(loc): every attribute read of this layer starts here).
bool has_object(hid_t loc, const std::string& name);
bool has_attr(hid_t loc, const char* name);

// Where an object header lies and how its file writes addresses (HDF5 File Format Specification
// 3.0, II.A: addresses are relative to the base address, here the userblock's size; offsets and
// lengths take the superblock's sizes).
struct HeaderLocation {
  std::string path;
  uint64_t base = 0;
  uint64_t address = 0;
  unsigned sizeof_offsets = 8;
  unsigned sizeof_lengths = 8;
};
// Reads the object header at `where` from the file's bytes (sections IV.A.1.a/b: version 1 and 2
// headers, their continuation chunks) and throws Hdf5Damaged("object header at A: ...") when a
// message does not fit in its chunk, a continuation leaves the file or returns to a chunk already
// read, or an attribute message stored in the header (IV.A.2.m) is shorter than its name,
// datatype, dataspace and data (elements × element size) claim. libhdf5 1.10 trusts those lengths
// and copies the data from past the chunk it loaded. Attributes in dense storage are not checked.
void check_object_header(const HeaderLocation& where);
// Where the header of `loc` lies (a file stands for its root group) and how its file writes
// addresses; nothing for a file open for writing, whose newest headers may still be only in
// libhdf5's metadata cache.
std::optional<HeaderLocation> readable_location(hid_t loc);
// check_object_header(readable_location(loc)), when there is one.
void check_object_header(hid_t loc);
// Reads the global heap collection at `where.address` (III.E) and throws Hdf5Damaged("global heap
// collection at A: ...") unless it is one ("GCOL", version 1, its size within the file), every
// object and free space in it fits in it and moves libhdf5's walk over them forward, and it holds
// object `index` with at least `length` bytes. libhdf5 1.10 trusts these sizes: it copies a
// variable-length string's bytes from its object, and loops for ever over empty free space.
void check_global_heap_object(const HeaderLocation& where, uint64_t index, uint64_t length);

// How a string attribute is stored: variable-length UTF-8, variable-length ASCII, or fixed-length
// ASCII of exactly the value's size (" " for an empty value). Formats keep the kind they shipped.
enum class Text { utf8, ascii, ascii_fixed };

// Scalar attributes of a file, group or dataset: name = value (int64 as little-endian 64-bit
// integers, double as IEEE little-endian float64).
void write_string_attr(hid_t loc, const char* name, const std::string& value,
                       Text kind = Text::utf8);
void write_int_attr(hid_t loc, const char* name, int64_t value);
void write_double_attr(hid_t loc, const char* name, double value);
// A 1-D int64 attribute: name = [values...].
void write_ints_attr(hid_t loc, const char* name, std::span<const int64_t> values);
// Reads them back; Hdf5Failure naming the attribute when it is missing or of another type,
// Hdf5Damaged when a scalar one holds several values or a variable-length string claims more
// bytes than the whole file (libhdf5 1.10 would allocate and clear that length inside H5Aread).
std::string read_attr_string(hid_t loc, const char* name);
int64_t read_attr_int(hid_t loc, const char* name);
double read_attr_double(hid_t loc, const char* name);
std::vector<int64_t> read_attr_ints(hid_t loc, const char* name);
// H5T_STRING, H5T_INTEGER, ...: the class of attribute `name`'s stored type.
H5T_class_t attr_class(hid_t loc, const char* name);
// Reads a variable- or fixed-length string from an attribute or a scalar dataset; Hdf5Damaged
// when it holds several values, or its variable-length string claims more bytes than the file or
// than the global heap object it points at (check_global_heap_object).
std::string read_string(hid_t obj, bool is_attr, const std::string& what);

// A dataset `name` of shape `dims` stored as `file_type`, written from `data` laid out as
// `memory_type` in row-major order (no write when it holds no values).
void write_dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t memory_type,
                   std::span<const hsize_t> dims, const void* data);
// The extent of dataset `ds`, one entry per dimension.
std::vector<hsize_t> dataset_dims(hid_t ds);
// Hdf5Damaged naming `what` when dataset `ds` is stored compact or contiguous in fewer bytes than
// its values take (extent x type size): libhdf5 1.10 copies the values from a compact dataset's
// stored bytes without comparing the two. Chunked datasets are not checked.
void check_dataset_storage(hid_t ds, const std::string& what);
// Reads all of dataset `ds` into `data` as `memory_type` (no read when it holds no values), after
// check_dataset_storage.
void read_dataset(hid_t ds, hid_t memory_type, void* data, const std::string& what);

}  // namespace samplersearch::hdf5
