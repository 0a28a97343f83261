#pragma once
// Private to experiments/: the trial store's SWMR column layer. A column is a chunked dataset
// whose first axis (one row per record) is unlimited; strings are (offset, length) spans into a
// per-group uint8 heap, since variable-length data is not SWMR-safe.
#include <array>
#include <string>
#include <vector>

#include "samplersearch/common/hdf5.hpp"

namespace samplersearch::store_detail {

using namespace hdf5;  // NOLINT: the store is written in the HDF5 layer's vocabulary

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
                   const void* fill, hid_t fill_type);
// Opens group/name and checks its rank and inner dimensions; returns it with its length.
Column open_column(hid_t group, const std::string& gname, const char* name,
                   const std::vector<hsize_t>& inner, hsize_t& length);
// Writes row `row` of a column (growing it when shorter); data holds row_elems() values.
void put_row(Column& c, hsize_t row, hid_t mem_type, const void* data);

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
std::vector<std::array<int64_t, 2>> append_text(Text& t, const std::vector<std::string>& pieces);
// The string at span i of `spans` (n×2) within `heap`.
std::string span_text(const std::vector<int64_t>& spans, size_t i, const std::string& heap,
                      const std::string& what);
// The whole heap of a group.
std::string read_heap(const Text& t);

}  // namespace samplersearch::store_detail
