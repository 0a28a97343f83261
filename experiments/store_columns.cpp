// The trial store's SWMR column layer (experiments/store_columns.hpp).
#include "store_columns.hpp"

#include <algorithm>
#include <string_view>

namespace samplersearch::store_detail {

namespace {

// Target size of one chunk of a per-record column (rows per chunk = this / row size, 1…64).
constexpr hsize_t kChunkBytes = 16384;
constexpr hsize_t kTextChunk = 8192;

}  // namespace

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
  if (!has_object(group, name)) throw Hdf5Failure("dataset '" + full + "' is missing");
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
  // {row, 0, …}: built without indexing, which GCC 12's -Wnull-dereference misreads here.
  std::vector<hsize_t> start{row}, count{1};
  start.resize(static_cast<size_t>(rank), 0);
  count.insert(count.end(), c.inner.begin(), c.inner.end());
  Handle fspace(H5Dget_space(c.ds), "H5Dget_space");
  h5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
     "H5Sselect_hyperslab");
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr), "H5Screate_simple");
  h5(H5Dwrite(c.ds, mem_type, mspace, fspace, H5P_DEFAULT, data), "H5Dwrite");
}

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

std::string read_heap(const Text& t) {
  const auto bytes = get_rows<uint8_t>(t.heap, t.size, H5T_NATIVE_UINT8);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace samplersearch::store_detail
