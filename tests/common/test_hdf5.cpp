// The HDF5 layer's object-header check (common/hdf5_header.cpp): files written by the layer and
// then damaged byte by byte at places found through libhdf5's own report of the header, refused
// with the damage named; valid files written by h5py in both header versions, accepted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "samplersearch/common/hdf5.hpp"

namespace samplersearch::hdf5 {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the system temp folder, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ss_hdf5_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

uint64_t le(const std::vector<unsigned char>& b, size_t at, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = v << 8 | b[at + i];
  return v;
}

void put_le(std::vector<unsigned char>& b, size_t at, unsigned n, uint64_t v) {
  for (unsigned i = 0; i < n; ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}

// The first position of `text` (with its terminating NUL) in `b`.
size_t find_name(const std::vector<unsigned char>& b, const std::string& text) {
  const std::string needle(text.c_str(), text.size() + 1);
  const auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << text;
  return static_cast<size_t>(it - b.begin());
}

// Runs `code` with the project's Python (h5py), `sys.argv[1]` being `dir`; true when it exits 0.
bool run_python(const TempDir& dir, const std::string& code) {
  const std::string script = dir.file("write.py");
  std::ofstream(script) << code;
  const char* python = std::getenv("SAMPLERSEARCH_PYTHON");
  const std::string command = std::string("'") + (python && *python ? python : "/usr/bin/python3") +
                              "' '" + script + "' '" + dir.file("") + "'";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A file as the layer writes it (default format: superblock 0, version 1 object headers): the
// root group holds a string attribute 'solver' and a 3-element int64 attribute 'values'.
struct LayerFile {
  std::string path;
  uint64_t header = 0;       // the root group's object header, from H5Oget_info2
  uint64_t header_size = 0;  // prefix and chunks, from H5Oget_info2's header report
  unsigned chunks = 0;
};

LayerFile write_layer_file(const std::string& path) {
  const Hdf5Lock lock;
  {
    const Handle f = create_file(path);
    write_string_attr(f, "solver", "euler");
    const std::vector<int64_t> values{1, 2, 3};
    write_ints_attr(f, "values", values);
  }
  const Handle f = open_file_read(path);
  H5O_info_t info{};
  h5(H5Oget_info2(f, &info, H5O_INFO_BASIC | H5O_INFO_HDR), "H5Oget_info2");
  EXPECT_EQ(info.hdr.version, 1u);
  return {path, info.addr, info.hdr.space.total, info.hdr.nchunks};
}

HeaderLocation location(const LayerFile& f) { return {f.path, 0, f.header, 8, 8}; }

// The offset of the first global heap collection ("GCOL", HDF5 File Format Specification III.E)
// in a file's bytes, or b.size() when there is none.
size_t gcol_offset(const std::vector<unsigned char>& b) {
  const std::string signature = "GCOL";
  return static_cast<size_t>(std::search(b.begin(), b.end(), signature.begin(), signature.end()) -
                             b.begin());
}

// Hdf5Damaged's message from `read()`, or "accepted" when it returns.
template <class Read>
std::string damaged_message(Read&& read) {
  try {
    read();
  } catch (const Hdf5Damaged& e) {
    return e.what();
  }
  return "accepted";
}

// Hdf5Damaged's message from check_object_header(where), or "" when it passes.
std::string refusal(const HeaderLocation& where) {
  try {
    check_object_header(where);
  } catch (const Hdf5Damaged& e) {
    return e.what();
  }
  return "";
}

// The layout the tests below edit, HDF5 File Format Specification 3.0, IV.A.1.a: a 16-byte
// prefix, then version 1 messages of an 8-byte header (type, size, flags, reserved) and their
// data. libhdf5 1.10 gives this root group a first chunk holding one continuation message (its
// data: the next chunk's offset and length), and a second chunk holding the symbol table message
// and the two attributes.
struct Layout {
  size_t continuation = 0;  // data of the continuation message in chunk 0
  uint64_t chunk1 = 0;      // address of chunk 1
  uint64_t chunk1_size = 0;
};

Layout layout_of(const LayerFile& f, const std::vector<unsigned char>& b) {
  Layout l;
  const size_t first = static_cast<size_t>(f.header) + 16;
  EXPECT_EQ(le(b, first, 2), 0x0010u);  // a continuation message
  l.continuation = first + 8;
  l.chunk1 = le(b, l.continuation, 8);
  l.chunk1_size = le(b, l.continuation + 8, 8);
  // libhdf5's total: the prefix, chunk 0 (one 8-byte header and 16 bytes of data) and chunk 1.
  EXPECT_EQ(f.header_size, 16 + 24 + l.chunk1_size);
  EXPECT_EQ(f.chunks, 2u);
  return l;
}

TEST(Hdf5Header, LayerFileIsAccepted) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("ok.h5"));
  EXPECT_EQ(refusal(location(f)), "");
  const Hdf5Lock lock;
  const Handle file = open_file_read(f.path);
  EXPECT_EQ(read_attr_string(file, "solver"), "euler");
  EXPECT_EQ(read_attr_ints(file, "values"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_FALSE(has_attr(file, "missing"));
}

// Rewrites `path` in place (same size) so that attribute 'values' claims 300 elements, not 3.
void inflate_values_attribute(const std::string& path) {
  std::vector<unsigned char> b = read_bytes(path);
  // Attribute message version 1 (IV.A.2.m): version, reserved, name/datatype/dataspace sizes,
  // then the name, datatype and dataspace, each padded to 8 bytes, then the data.
  const size_t name = find_name(b, "values");
  const size_t message = name - 8;
  ASSERT_EQ(b[message], 1);
  ASSERT_EQ(le(b, message + 2, 2), 7u);  // "values" and its NUL
  const size_t space = name + 8 + (le(b, message + 4, 2) + 7) / 8 * 8;
  // Dataspace version 1 (IV.A.2.b): 8 bytes of version, rank 1, flags, reserved; the dimension.
  ASSERT_EQ(b[space], 1);
  ASSERT_EQ(b[space + 1], 1);
  ASSERT_EQ(le(b, space + 8, 8), 3u);
  put_le(b, space + 8, 8, 300);
  write_bytes(path, b);
}

// The fault libhdf5 1.10 has: an attribute whose dataspace claims more elements than its message
// holds data for. H5Fopen accepts the file (attributes are decoded only when asked for), so the
// refusal comes from the layer's first attribute call.
TEST(Hdf5Header, AttributeDataLongerThanItsMessageIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("data.h5"));
  inflate_values_attribute(f.path);

  const std::string expected = "object header at " + std::to_string(f.header) +
                               ": attribute message 2 ('values'): claims 2400 bytes of data (300 "
                               "elements of 8 bytes), its message holds 24 after the name, "
                               "datatype and dataspace";
  EXPECT_EQ(refusal(location(f)), expected);
  const Hdf5Lock lock;
  const Handle file = open_file_read(f.path);
  try {
    read_attr_ints(file, "values");
    FAIL() << "accepted";
  } catch (const Hdf5Damaged& e) {
    EXPECT_EQ(std::string(e.what()), expected);
  }
  // The header is refused as a whole: every attribute of the object.
  EXPECT_THROW(has_attr(file, "solver"), Hdf5Damaged);
}

// A file read whole, then damaged in place (same size, within the same clock tick) and opened
// again, is refused: nothing of the first reading is trusted.
TEST(Hdf5Header, AFileDamagedAfterItWasReadIsRefusedWhenOpenedAgain) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("rewritten.h5"));
  const Hdf5Lock lock;
  {
    const Handle file = open_file_read(f.path);
    EXPECT_EQ(read_attr_ints(file, "values"), (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(read_attr_string(file, "solver"), "euler");
  }
  inflate_values_attribute(f.path);
  const Handle file = open_file_read(f.path);
  EXPECT_THROW(has_attr(file, "solver"), Hdf5Damaged);
  EXPECT_THROW(read_attr_ints(file, "values"), Hdf5Damaged);
}

// libhdf5 1.10 copies a variable-length string from its global heap object trusting the object's
// size (H5HG_read; found by fuzz_statistics). The layer reads the collection first (HDF5 File
// Format Specification 3.0, III.E) and refuses an object that does not fit in it.
TEST(Hdf5Header, GlobalHeapObjectPastItsCollectionIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("heap.h5"));
  std::vector<unsigned char> b = read_bytes(f.path);
  const size_t gcol = gcol_offset(b);
  ASSERT_LT(gcol, b.size());
  ASSERT_EQ(b[gcol + 4], 1);                 // version 1
  const uint64_t size = le(b, gcol + 8, 8);  // the collection's size, header included
  ASSERT_EQ(le(b, gcol + 16, 2), 1u);        // object 1: 'solver''s "euler"
  ASSERT_EQ(le(b, gcol + 24, 8), 5u);        // its size
  ASSERT_EQ(std::string(b.begin() + static_cast<std::ptrdiff_t>(gcol) + 32,
                        b.begin() + static_cast<std::ptrdiff_t>(gcol) + 37),
            "euler");
  {
    const Hdf5Lock lock;
    const Handle file = open_file_read(f.path);
    EXPECT_EQ(read_attr_string(file, "solver"), "euler");  // the check accepts the valid file
  }
  put_le(b, gcol + 24, 8, uint64_t{1} << 40);
  write_bytes(f.path, b);
  const Hdf5Lock lock;
  const Handle file = open_file_read(f.path);
  EXPECT_EQ(damaged_message([&] { read_attr_string(file, "solver"); }),
            "attribute 'solver': global heap collection at " + std::to_string(gcol) +
                ": object 1 claims " + std::to_string(uint64_t{1} << 40) +
                " bytes, the collection has " + std::to_string(size - 32) + " left");
}

// libhdf5 1.10 walks a collection's objects by their sizes; free space (index 0) claiming no
// bytes would keep it at the same place for ever (found by fuzz_statistics as a timeout).
TEST(Hdf5Header, GlobalHeapFreeSpaceThatDoesNotAdvanceIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("free.h5"));
  std::vector<unsigned char> b = read_bytes(f.path);
  const size_t gcol = gcol_offset(b);
  ASSERT_LT(gcol, b.size());
  const uint64_t size = le(b, gcol + 8, 8);
  // Header 16 bytes, object 1 ("euler": 16-byte header + 5 bytes padded to 8), then free space,
  // whose size counts its own header and runs to the collection's end.
  const size_t free_at = 16 + 16 + 8;
  ASSERT_EQ(le(b, gcol + free_at, 2), 0u);
  ASSERT_EQ(le(b, gcol + free_at + 8, 8), size - free_at);
  put_le(b, gcol + free_at + 8, 8, 0);
  write_bytes(f.path, b);
  const Hdf5Lock lock;
  const Handle file = open_file_read(f.path);
  EXPECT_EQ(damaged_message([&] { read_attr_string(file, "solver"); }),
            "attribute 'solver': global heap collection at " + std::to_string(gcol) +
                ": its free space at offset " + std::to_string(free_at) +
                " claims 0 bytes, not between its header's 16 and the " +
                std::to_string(size - free_at) + " left");
}

// Valid compact and contiguous datasets pass check_dataset_storage and are read; a contiguous
// one never written (no storage: libhdf5 reads its fill value) passes too.
TEST(Hdf5Header, CompactAndContiguousDatasetsAreRead) {
  const TempDir dir;
  const std::string path = dir.file("layouts.h5");
  const std::vector<double> values{1.5, -2.0, 3.25, 4.0};
  const hsize_t n = values.size();
  {
    const Hdf5Lock lock;
    const Handle f = create_file(path);
    const Handle space(H5Screate_simple(1, &n, nullptr), "space");
    for (const H5D_layout_t layout : {H5D_COMPACT, H5D_CONTIGUOUS}) {
      const Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), "dcpl");
      h5(H5Pset_layout(dcpl, layout), "H5Pset_layout");
      const Handle ds(H5Dcreate2(f, layout == H5D_COMPACT ? "compact" : "contiguous",
                                 H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                      "create");
      h5(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write");
    }
    const Handle empty(
        H5Dcreate2(f, "unwritten", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "create");
  }
  const Hdf5Lock lock;
  const Handle f = open_file_read(path);
  for (const char* name : {"compact", "contiguous"}) {
    const Handle ds(H5Dopen2(f, name, H5P_DEFAULT), name);
    std::vector<double> read(4, 0.0);
    read_dataset(ds, H5T_NATIVE_DOUBLE, read.data(), name);
    EXPECT_EQ(read, values) << name;
  }
  const Handle ds(H5Dopen2(f, "unwritten", H5P_DEFAULT), "unwritten");
  std::vector<double> read(4, 9.0);
  read_dataset(ds, H5T_NATIVE_DOUBLE, read.data(), "unwritten");
  EXPECT_EQ(read, std::vector<double>(4, 0.0));
}

// A file with one dataset 'text' of `n` variable-length strings, all `value` (n = 0: scalar).
std::string write_string_dataset(const std::string& path, const std::string& value, hsize_t n) {
  const Hdf5Lock lock;
  const Handle f = create_file(path);
  const Handle type(H5Tcopy(H5T_C_S1), "H5Tcopy");
  h5(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  const Handle space(n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), "space");
  const Handle ds(H5Dcreate2(f, "text", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "ds");
  const std::vector<const char*> p(std::max<hsize_t>(n, 1), value.c_str());
  h5(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()), "write");
  return path;
}

// read_string of dataset 'text' in file `path`, or Hdf5Damaged's message.
std::string text_or_refusal(const std::string& path) {
  const Hdf5Lock lock;
  const Handle file = open_file_read(path);
  const Handle ds(H5Dopen2(file, "text", H5P_DEFAULT), "open");
  try {
    return read_string(ds, false, "dataset '/text'");
  } catch (const Hdf5Damaged& e) {
    return e.what();
  }
}

// The same check guards a scalar dataset's string (read_string), the twin of an attribute's.
TEST(Hdf5Header, DatasetStringPastItsHeapCollectionIsRefused) {
  const TempDir dir;
  const std::string path = write_string_dataset(dir.file("ds.h5"), "experiment text", 0);
  EXPECT_EQ(text_or_refusal(path), "experiment text");
  std::vector<unsigned char> b = read_bytes(path);
  const size_t gcol = gcol_offset(b);
  ASSERT_LT(gcol, b.size());
  const uint64_t size = le(b, gcol + 8, 8);
  ASSERT_EQ(le(b, gcol + 16, 2), 1u);   // object 1
  ASSERT_EQ(le(b, gcol + 24, 8), 15u);  // holds the 15 bytes of "experiment text"
  put_le(b, gcol + 24, 8, uint64_t{1} << 40);
  write_bytes(path, b);
  EXPECT_EQ(text_or_refusal(path),
            "dataset '/text': global heap collection at " + std::to_string(gcol) +
                ": object 1 claims " + std::to_string(uint64_t{1} << 40) +
                " bytes, the collection has " + std::to_string(size - 32) + " left");
}

// A string dataset of several values is refused before it is read into one string.
TEST(Hdf5Header, StringDatasetOfSeveralValuesIsRefused) {
  const TempDir dir;
  const std::string path = write_string_dataset(dir.file("many.h5"), "x", 3);
  EXPECT_EQ(text_or_refusal(path), "dataset '/text': holds 3 values, expected one");
}

TEST(Hdf5Header, MessageRunningPastItsChunkIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("size.h5"));
  std::vector<unsigned char> b = read_bytes(f.path);
  const Layout l = layout_of(f, b);
  // 'values' is the last message of chunk 1 and message 4 of the header (continuation, symbol
  // table, 'solver', 'values'): its 8-byte header sits 16 bytes before its name.
  const size_t header = find_name(b, "values") - 16;
  ASSERT_EQ(le(b, header, 2), 0x000Cu);
  const uint64_t size = le(b, header + 2, 2);
  ASSERT_EQ(header + 8 + size, l.chunk1 + l.chunk1_size);
  put_le(b, header + 2, 2, 4096);
  write_bytes(f.path, b);
  EXPECT_EQ(refusal(location(f)), "object header at " + std::to_string(f.header) +
                                      ": message 4 (type 12) claims 4096 " + "bytes, only " +
                                      std::to_string(size) + " remain in chunk 1 (at " +
                                      std::to_string(l.chunk1) + ", " +
                                      std::to_string(l.chunk1_size) + " bytes of messages)");
}

TEST(Hdf5Header, ContinuationPastTheEndOfTheFileIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("far.h5"));
  std::vector<unsigned char> b = read_bytes(f.path);
  const Layout l = layout_of(f, b);
  const uint64_t far = b.size() + 1000;
  put_le(b, l.continuation, 8, far);
  write_bytes(f.path, b);
  EXPECT_EQ(refusal(location(f)), "object header at " + std::to_string(f.header) +
                                      ": continuation message 1's chunk at " + std::to_string(far) +
                                      " (" + std::to_string(l.chunk1_size) +
                                      " bytes) lies past the end of the " +
                                      std::to_string(b.size()) + "-byte file");
  // A length reaching past the end is refused the same way (and an address + length that wraps
  // around 2^64 as well).
  put_le(b, l.continuation, 8, l.chunk1);
  put_le(b, l.continuation + 8, 8, UINT64_MAX - 8);
  write_bytes(f.path, b);
  EXPECT_NE(refusal(location(f)).find("lies past the end of the"), std::string::npos);
}

TEST(Hdf5Header, ContinuationCycleIsRefused) {
  const TempDir dir;
  const LayerFile f = write_layer_file(dir.file("cycle.h5"));
  std::vector<unsigned char> b = read_bytes(f.path);
  const Layout l = layout_of(f, b);
  // Chunk 1 starts with the symbol table message (type 0x11, 16 bytes: two addresses, IV.A.2.r),
  // exactly the size of a continuation message: turned into one that points back at chunk 1.
  const auto first = static_cast<size_t>(l.chunk1);
  ASSERT_EQ(le(b, first, 2), 0x0011u);
  ASSERT_EQ(le(b, first + 2, 2), 16u);
  put_le(b, first, 2, 0x0010);
  put_le(b, first + 8, 8, l.chunk1);
  put_le(b, first + 16, 8, l.chunk1_size);
  write_bytes(f.path, b);
  EXPECT_EQ(refusal(location(f)), "object header at " + std::to_string(f.header) +
                                      ": continuation message 2 points back at the chunk at " +
                                      std::to_string(l.chunk1) + " (a cycle)");
  // And one pointing back at the header itself.
  b = read_bytes(f.path);
  put_le(b, l.continuation, 8, f.header);
  write_bytes(f.path, b);
  EXPECT_EQ(refusal(location(f)), "object header at " + std::to_string(f.header) +
                                      ": continuation message 1 points back at the chunk at " +
                                      std::to_string(f.header) + " (a cycle)");
}

// The open fuzz input: the layer refuses it at the first attribute call (libhdf5 would copy the
// 'options' attribute's data from past the chunk it loaded).
TEST(Hdf5Header, FuzzRegressionAttributeDataPastHeaderChunkIsRefused) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path = std::string(source) +
                           "/tests/fuzz/regressions/fuzz_matrices_hdf5/"
                           "attribute_data_past_header_chunk.h5";
  const Hdf5Lock lock;
  const Handle file = open_file_read(path);
  try {
    has_attr(file, "solver");
    FAIL() << "accepted";
  } catch (const Hdf5Damaged& e) {
    // The root group's 4th attribute message: name 8 bytes, datatype 8, and a dataspace of 4104
    // (0x1008) bytes in a message of 344 (0x158) — hexdump of the input at 0x12e8.
    EXPECT_EQ(std::string(e.what()),
              "object header at 96: attribute message 4 ('options'): claims a 4104-byte "
              "dataspace, its message holds 344");
  }
}

// Valid files written by h5py (libhdf5 1.10 underneath): version 1 headers under
// libver='earliest', version 2 ("OHDR") under 'latest', with 0, 1 and 20 integer attributes on
// the root group and on a dataset; 20 stay in the header under 'earliest' and go to dense storage
// under 'latest' (more than 8), where the check has nothing to read. Each is accepted and read.
TEST(Hdf5Header, H5pyFilesAreAccepted) {
  const TempDir dir;
  ASSERT_TRUE(run_python(dir,
                         "import sys, h5py, numpy as np\n"
                         "d = sys.argv[1]\n"
                         "for lv in ('earliest', 'latest'):\n"
                         "    for n in (0, 1, 20):\n"
                         "        with h5py.File(f'{d}/{lv}_{n}.h5', 'w', libver=lv) as f:\n"
                         "            ds = f.create_dataset('d', data=np.arange(4))\n"
                         "            for i in range(n):\n"
                         "                f.attrs[f'a{i}'] = np.int64(i)\n"
                         "                ds.attrs[f'a{i}'] = np.int64(100 + i)\n"
                         "    with h5py.File(f'{d}/{lv}_kinds.h5', 'w', libver=lv,\n"
                         "                   userblock_size=512) as f:\n"
                         "        f.attrs['text'] = 'a variable-length string'\n"
                         "        f.attrs['fixed'] = np.bytes_(b'fixed')\n"
                         "        f.attrs['matrix'] = np.arange(6.0).reshape(2, 3)\n"
                         "        f.attrs['empty'] = h5py.Empty('f8')\n"
                         "        f['t'] = np.dtype('<f8')\n"
                         "        f.attrs.create('committed', 2.5, dtype=f['t'])\n"));

  const Hdf5Lock lock;
  for (const std::string lv : {"earliest", "latest"}) {
    for (const int n : {0, 1, 20}) {
      SCOPED_TRACE(lv + " " + std::to_string(n));
      const Handle file = open_file_read(dir.file(lv + "_" + std::to_string(n) + ".h5"));
      const Handle ds(H5Dopen2(file, "d", H5P_DEFAULT), "H5Dopen2");
      H5O_info_t info{};
      h5(H5Oget_info2(file, &info, H5O_INFO_HDR), "H5Oget_info2");
      EXPECT_EQ(info.hdr.version, lv == "earliest" ? 1u : 2u);
      for (int i = 0; i < n; ++i) {
        const std::string name = std::string("a").append(std::to_string(i));
        EXPECT_EQ(read_attr_int(file, name.c_str()), i);
        EXPECT_EQ(read_attr_int(ds, name.c_str()), 100 + i);
      }
      EXPECT_FALSE(has_attr(file, "missing"));
      EXPECT_FALSE(has_attr(ds, "missing"));
    }
    SCOPED_TRACE(lv + " kinds");
    const Handle file = open_file_read(dir.file(lv + "_kinds.h5"));
    EXPECT_EQ(read_attr_string(file, "text"), "a variable-length string");
    EXPECT_EQ(read_attr_string(file, "fixed"), "fixed");
    EXPECT_EQ(read_attr_double(file, "committed"), 2.5);
    EXPECT_EQ(attr_class(file, "matrix"), H5T_FLOAT);
    EXPECT_EQ(attr_class(file, "empty"), H5T_FLOAT);
  }
}

// A version 2 header (h5py, libver='latest'): attribute message version 3 (IV.A.2.m: version,
// flags, three 2-byte sizes, the name's character set, then name, datatype and dataspace without
// padding) with its dataspace (version 2: version, rank, flags, type, then the dimensions)
// inflated from 3 to 300 elements. libhdf5 would refuse the header's checksum on opening the file,
// so the check is called on the header's address directly.
TEST(Hdf5Header, Version2HeaderWithInflatedAttributeDataIsRefused) {
  const TempDir dir;
  ASSERT_TRUE(run_python(dir,
                         "import sys, h5py, numpy as np\n"
                         "with h5py.File(sys.argv[1] + '/v2.h5', 'w', libver='latest') as f:\n"
                         "    f.attrs['first'] = np.int64(1)\n"
                         "    f.attrs['inflated_values'] = np.arange(3, dtype='<i8')\n"));
  const std::string path = dir.file("v2.h5");
  uint64_t address = 0;
  {
    const Hdf5Lock lock;
    const Handle file = open_file_read(path);
    H5O_info_t info{};
    h5(H5Oget_info2(file, &info, H5O_INFO_BASIC | H5O_INFO_HDR), "H5Oget_info2");
    ASSERT_EQ(info.hdr.version, 2u);
    EXPECT_EQ(read_attr_ints(file, "inflated_values"), (std::vector<int64_t>{0, 1, 2}));
    address = info.addr;
  }
  const HeaderLocation where{path, 0, address, 8, 8};
  EXPECT_EQ(refusal(where), "");
  std::vector<unsigned char> b = read_bytes(path);
  const size_t name = find_name(b, "inflated_values");
  const size_t message = name - 9;
  ASSERT_EQ(b[message], 3);
  ASSERT_EQ(le(b, message + 2, 2), 16u);
  const size_t space = name + 16 + le(b, message + 4, 2);
  ASSERT_EQ(b[space], 2);
  ASSERT_EQ(b[space + 1], 1);
  ASSERT_EQ(b[space + 3], 1);  // simple
  ASSERT_EQ(le(b, space + 4, 8), 3u);
  put_le(b, space + 4, 8, 300);
  write_bytes(path, b);
  EXPECT_EQ(refusal(where), "object header at " + std::to_string(address) +
                                ": attribute message 2 ('inflated_values'): claims 2400 bytes of "
                                "data (300 elements of 8 bytes), its message holds 24 after the "
                                "name, datatype and dataspace");
}

}  // namespace
}  // namespace samplersearch::hdf5
