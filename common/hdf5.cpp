// The one HDF5 layer: locking, errors, files, attributes and datasets (common/hdf5.hpp).
#include "samplersearch/common/hdf5.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

namespace samplersearch::hdf5 {

namespace {

// Every HDF5 call in this file holds this lock (the library build is not thread-safe).
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

Hdf5Lock::Hdf5Lock() : lock_(hdf5_mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}
Hdf5Lock::~Hdf5Lock() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

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
  // One line: some descriptions carry ctime()'s newline ("time = ...\n, name = ...").
  for (char& c : msg)
    if (c == '\n') c = ' ';
  return msg.empty() ? "unknown HDF5 error" : msg;
}

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

Handle create_file(const std::string& path) {
  errno = 0;
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) {
    // Creating fails for a file-system reason (no such directory, no permission, no space):
    // open(2)'s errno says which; HDF5's own stack repeats it inside several lines of detail.
    const int error = errno;
    const std::string stack = hdf5_error();
    throw Hdf5Failure("cannot create the file: " +
                      (error != 0 ? std::string(std::strerror(error)) : stack));
  }
  return Handle(id);
}

Handle open_file_read(const std::string& path) {
  return Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open " + path);
}

Handle open_file_write(const std::string& path) {
  return Handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "cannot open " + path);
}

bool has_object(hid_t loc, const std::string& name) {
  const htri_t link = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  if (link < 0) H5Eclear2(H5E_DEFAULT);
  if (link <= 0) return false;
  const htri_t object = H5Oexists_by_name(loc, name.c_str(), H5P_DEFAULT);
  if (object < 0) H5Eclear2(H5E_DEFAULT);
  return object > 0;
}

bool has_attr(hid_t loc, const char* name) {
  check_object_header(loc);
  const htri_t r = H5Aexists(loc, name);
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

namespace {

// A scalar attribute `name` of `file_type`, written from `value` laid out as `memory_type`.
void write_scalar_attr(hid_t loc, const char* name, hid_t file_type, hid_t memory_type,
                       const void* value) {
  Handle space(H5Screate(H5S_SCALAR), "H5Screate");
  Handle a(H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT),
           std::string("create attribute ") + name);
  h5(H5Awrite(a, memory_type, value), std::string("write attribute ") + name);
}

// Attribute `name` opened for reading; Hdf5Failure when it is missing.
Handle open_attr(hid_t loc, const char* name) {
  if (!has_attr(loc, name)) throw Hdf5Failure(std::string("attribute '") + name + "' is missing");
  return Handle(H5Aopen(loc, name, H5P_DEFAULT), std::string("open attribute ") + name);
}

// Attribute `name` opened, and checked to hold exactly one value (a scalar, or one element).
Handle open_single_attr(hid_t loc, const char* name) {
  Handle a = open_attr(loc, name);
  const Handle space(H5Aget_space(a), std::string("space of attribute ") + name);
  const hssize_t points = h5(H5Sget_simple_extent_npoints(space), std::string("size of ") + name);
  if (points != 1)
    throw Hdf5Damaged(std::string("attribute '") + name + "': holds " + std::to_string(points) +
                      " values, expected one");
  return a;
}

// A no-op conversion from a variable-length string to an opaque type of the same on-disk size:
// H5Aread then hands back the attribute's stored bytes, i.e. the disk form of a variable-length
// string (HDF5 File Format Specification 2.0, section IV.B "Datatype message", variable-length
// class: a 4-byte little-endian length, then the global heap ID), without following the heap
// reference. Registered as a soft conversion (HDF5 User's Guide, "Datatype conversion"), it
// applies only to the pair variable-length -> opaque, for which the library has none.
herr_t raw_vlen_bytes(hid_t src, hid_t dst, H5T_cdata_t* cdata, size_t /*nelmts*/,
                      size_t /*buf_stride*/, size_t /*bkg_stride*/, void* /*buf*/, void* /*bkg*/,
                      hid_t /*dxpl*/) {
  if (cdata->command == H5T_CONV_INIT) {
    cdata->need_bkg = H5T_BKG_NO;
    // In place and byte for byte: only when both sides have the same size.
    if (H5Tget_class(dst) != H5T_OPAQUE || H5Tget_size(src) != H5Tget_size(dst)) return -1;
  }
  return 0;
}

// Registers raw_vlen_bytes once per process (under the caller's Hdf5Lock).
void register_raw_vlen_bytes() {
  static const bool registered = [] {
    const Handle vlen(H5Tcopy(H5T_C_S1), "H5Tcopy");
    H5Tset_size(vlen, H5T_VARIABLE);
    const Handle opaque(H5Tcreate(H5T_OPAQUE, 16), "H5Tcreate");
    return H5Tregister(H5T_PERS_SOFT, "samplersearch raw variable-length bytes", vlen, opaque,
                       raw_vlen_bytes) >= 0;
  }();
  (void)registered;
}

// What a scalar variable-length string's stored bytes say (see raw_vlen_bytes): the bytes it
// claims, then the global heap ID of them: the collection's address and the object's index within
// it (IV.B, variable-length class; the ID's layout: III.E).
struct VlenReference {
  int64_t length = -1;  // -1: the bytes could not be read that way
  uint64_t collection = 0;
  uint64_t index = 0;
};

// The stored bytes of the scalar variable-length string in attribute or dataset `obj`.
VlenReference vlen_reference(hid_t obj, bool is_attr, unsigned sizeof_offsets) {
  register_raw_vlen_bytes();
  const hsize_t stored = is_attr ? H5Aget_storage_size(obj) : H5Dget_storage_size(obj);
  if (stored < 4 || stored > 64) return {};
  const hid_t opaque = H5Tcreate(H5T_OPAQUE, static_cast<size_t>(stored));
  if (opaque < 0) return {};
  const Handle owned(opaque);
  std::vector<unsigned char> bytes(static_cast<size_t>(stored));
  const herr_t read = is_attr ? H5Aread(obj, opaque, bytes.data())
                              : H5Dread(obj, opaque, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
  if (read < 0) {
    H5Eclear2(H5E_DEFAULT);
    return {};
  }
  const auto le = [&](size_t at, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = v << 8 | (at + i < bytes.size() ? bytes[at + i] : 0);
    return v;
  };
  return {static_cast<int64_t>(le(0, 4)), le(4, sizeof_offsets), le(4 + sizeof_offsets, 4)};
}

// Hdf5Damaged when the scalar variable-length string in `obj` (`what` names it) claims more bytes
// than its file has, or (in a file open for reading) more than the global heap object it points
// at holds, or that object does not fit in its collection.
void check_vlen_length(hid_t obj, bool is_attr, const std::string& what) {
  const std::optional<HeaderLocation> where = readable_location(obj);
  const VlenReference ref = vlen_reference(obj, is_attr, where ? where->sizeof_offsets : 8);
  if (ref.length < 0) throw Hdf5Damaged(what + ": unreadable variable-length string");
  const Handle file(H5Iget_file_id(obj), "file of " + what);
  hsize_t file_size = 0;
  h5(H5Fget_filesize(file, &file_size), "size of the file");
  if (ref.length > static_cast<int64_t>(file_size))
    throw Hdf5Damaged(what + ": the variable-length string claims " + std::to_string(ref.length) +
                      " bytes, more than the " + std::to_string(file_size) +
                      " bytes of the file; the file is damaged");
  if (!where || ref.length == 0) return;  // an empty string has no heap object to follow
  HeaderLocation heap = *where;
  heap.address = ref.collection;
  try {
    check_global_heap_object(heap, ref.index, static_cast<uint64_t>(ref.length));
  } catch (const Hdf5Damaged& e) {
    throw Hdf5Damaged(what + ": " + e.what());
  }
}

}  // namespace

void write_string_attr(hid_t loc, const char* name, const std::string& value, Text kind) {
  if (kind == Text::ascii_fixed) {
    const std::string stored = value.empty() ? std::string(" ") : value;
    Handle type(H5Tcopy(H5T_C_S1), "H5Tcopy");
    h5(H5Tset_size(type, stored.size()), "H5Tset_size");
    write_scalar_attr(loc, name, type, type, stored.data());
    return;
  }
  Handle type = kind == Text::utf8 ? utf8_string_type() : Handle(H5Tcopy(H5T_C_S1), "H5Tcopy");
  if (kind == Text::ascii) h5(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  const char* p = value.c_str();
  write_scalar_attr(loc, name, type, type, &p);
}

void write_int_attr(hid_t loc, const char* name, int64_t value) {
  write_scalar_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_double_attr(hid_t loc, const char* name, double value) {
  write_scalar_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void write_ints_attr(hid_t loc, const char* name, std::span<const int64_t> values) {
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), "H5Screate_simple");
  Handle a(H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
           std::string("create attribute ") + name);
  h5(H5Awrite(a, H5T_NATIVE_INT64, values.data()), std::string("write attribute ") + name);
}

// Reads a variable- or fixed-length string from an attribute or a scalar dataset.
std::string read_string(hid_t obj, bool is_attr, const std::string& what) {
  Handle ftype(is_attr ? H5Aget_type(obj) : H5Dget_type(obj), what);
  if (H5Tget_class(ftype) != H5T_STRING) throw Hdf5Failure(what + " is not a string");
  // One value, or the read below would write past the single string it reads into.
  const Handle space(is_attr ? H5Aget_space(obj) : H5Dget_space(obj), "space of " + what);
  const hssize_t points = h5(H5Sget_simple_extent_npoints(space), "size of " + what);
  if (points != 1)
    throw Hdf5Damaged(what + ": holds " + std::to_string(points) + " values, expected one");
  if (H5Tis_variable_str(ftype) > 0) {
    check_vlen_length(obj, is_attr, what);
    Handle mtype(H5Tcopy(ftype), "H5Tcopy");  // same character set: HDF5 converts none
    char* p = nullptr;
    h5(is_attr ? H5Aread(obj, mtype, &p) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p),
       "read " + what);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  if (!is_attr) check_dataset_storage(obj, what);
  const size_t size = H5Tget_size(ftype);
  std::string s(size, '\0');
  Handle mtype(H5Tcopy(ftype), "H5Tcopy");
  h5(is_attr ? H5Aread(obj, mtype, s.data())
             : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()),
     "read " + what);
  s.resize(std::strlen(s.c_str()));
  return s;
}

std::string read_attr_string(hid_t loc, const char* name) {
  return read_string(open_attr(loc, name), true, std::string("attribute '") + name + "'");
}

H5T_class_t attr_class(hid_t loc, const char* name) {
  const Handle a = open_attr(loc, name);
  const Handle type(H5Aget_type(a), std::string("type of attribute ") + name);
  return H5Tget_class(type);
}

int64_t read_attr_int(hid_t loc, const char* name) {
  Handle a = open_single_attr(loc, name);
  int64_t v = 0;
  h5(H5Aread(a, H5T_NATIVE_INT64, &v), std::string("read attribute ") + name);
  return v;
}

double read_attr_double(hid_t loc, const char* name) {
  Handle a = open_single_attr(loc, name);
  double v = 0;
  h5(H5Aread(a, H5T_NATIVE_DOUBLE, &v), std::string("read attribute ") + name);
  return v;
}

std::vector<int64_t> read_attr_ints(hid_t loc, const char* name) {
  Handle a = open_attr(loc, name);
  Handle space(H5Aget_space(a), std::string("space of attribute ") + name);
  const hssize_t n = h5(H5Sget_simple_extent_npoints(space), std::string("size of ") + name);
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (n > 0) h5(H5Aread(a, H5T_NATIVE_INT64, v.data()), std::string("read attribute ") + name);
  return v;
}

void write_dataset(hid_t loc, const std::string& name, hid_t file_type, hid_t memory_type,
                   std::span<const hsize_t> dims, const void* data) {
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               "H5Screate_simple");
  Handle ds(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            "create dataset " + name);
  if (H5Sget_simple_extent_npoints(space) > 0)
    h5(H5Dwrite(ds, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write dataset " + name);
}

std::vector<hsize_t> dataset_dims(hid_t ds) {
  Handle space(H5Dget_space(ds), "H5Dget_space");
  const int rank = h5(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> dims(static_cast<size_t>(rank), 0);
  if (rank > 0) h5(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "extent");
  return dims;
}

void check_dataset_storage(hid_t ds, const std::string& what) {
  const Handle space(H5Dget_space(ds), "space of " + what);
  const hssize_t points = h5(H5Sget_simple_extent_npoints(space), "size of " + what);
  const Handle type(H5Dget_type(ds), "type of " + what);
  const size_t value = H5Tget_size(type);
  const Handle dcpl(H5Dget_create_plist(ds), "creation properties of " + what);
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  // Chunked storage is not checked: each chunk's size lives in the chunk index, which this layer
  // does not read.
  if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS) return;
  const hsize_t stored = H5Dget_storage_size(ds);
  // Contiguous storage never written holds no bytes: libhdf5 reads the fill value instead.
  if (layout == H5D_CONTIGUOUS && stored == 0) return;
  hsize_t need = 0;
  const bool overflow =
      __builtin_mul_overflow(static_cast<hsize_t>(points), static_cast<hsize_t>(value), &need);
  if (overflow || stored < need)
    throw Hdf5Damaged(what + ": its " + (layout == H5D_COMPACT ? "compact" : "contiguous") +
                      " storage holds " + std::to_string(stored) + " bytes, its " +
                      std::to_string(points) + " values of " + std::to_string(value) +
                      " bytes need " + (overflow ? "more than 2^64" : std::to_string(need)));
}

void read_dataset(hid_t ds, hid_t memory_type, void* data, const std::string& what) {
  Handle space(H5Dget_space(ds), "H5Dget_space");
  if (H5Sget_simple_extent_npoints(space) <= 0) return;
  check_dataset_storage(ds, what);
  h5(H5Dread(ds, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "read " + what);
}

}  // namespace samplersearch::hdf5
