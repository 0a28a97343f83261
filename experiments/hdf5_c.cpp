// The HDF5 C API layer of the trial store (experiments/hdf5_c.hpp).
#include "hdf5_c.hpp"

#include <cstring>
#include <vector>

namespace samplersearch::store_detail {

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

std::string read_attr_string(hid_t loc, const char* name) {
  if (H5Aexists(loc, name) <= 0)
    throw Hdf5Failure(std::string("attribute '") + name + "' is missing");
  Handle a(H5Aopen(loc, name, H5P_DEFAULT), std::string("open attribute ") + name);
  return read_string(a, true, std::string("attribute '") + name + "'");
}

int64_t read_attr_int(hid_t loc, const char* name) {
  if (H5Aexists(loc, name) <= 0)
    throw Hdf5Failure(std::string("attribute '") + name + "' is missing");
  Handle a(H5Aopen(loc, name, H5P_DEFAULT), std::string("open attribute ") + name);
  int64_t v = 0;
  h5(H5Aread(a, H5T_NATIVE_INT64, &v), std::string("read attribute ") + name);
  return v;
}

}  // namespace samplersearch::store_detail
