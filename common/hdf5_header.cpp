// The object-header check of the HDF5 layer (common/hdf5.hpp): the raw bytes of one object header,
// read from the file itself, bounded before libhdf5 1.10 decodes its attribute messages. That
// decoder trusts the lengths inside an attribute message and copies its data from wherever they
// point, past the chunk it loaded when they are damaged. References are to the HDF5 File Format
// Specification 3.0 (the layouts used here are unchanged since version 2.0).
#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "samplersearch/common/hdf5.hpp"

namespace samplersearch::hdf5 {

namespace {

// Bounds on what one header may make the check do, whatever its lengths say.
constexpr int kMaxChunks = 1024;
constexpr int kMaxMessages = 65536;  // a version 1 header counts its messages in 2 bytes
constexpr uint64_t kMaxHeaderBytes = uint64_t{64} << 20;

// Message types (IV.A.2): the continuation (IV.A.2.q) and the attribute (IV.A.2.m).
constexpr unsigned kContinuation = 0x0010;
constexpr unsigned kAttribute = 0x000C;
// Header message flag bit 1: the message is stored in the shared-message heap (IV.A.1.a).
constexpr unsigned kMessageShared = 0x02;

// Little-endian unsigned integer of `n` (at most 8) bytes at `p`.
uint64_t le(const unsigned char* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

// `n` rounded up to a multiple of 8 (the padding of version 1 attribute messages, IV.A.2.m).
uint64_t align8(uint64_t n) { return (n + 7) / 8 * 8; }

// One object header being checked: the file's bytes and the messages of the header's report.
class HeaderReader {
 public:
  explicit HeaderReader(const HeaderLocation& where, std::string kind = "object header")
      : where_(where), kind_(std::move(kind)) {
    in_.open(where.path, std::ios::binary);
    if (!in_) throw Hdf5Failure("cannot reopen " + where.path + " to check its object headers");
    in_.seekg(0, std::ios::end);
    const std::streamoff end = in_.tellg();
    if (end < 0) throw Hdf5Failure("cannot read the size of " + where.path);
    file_size_ = static_cast<uint64_t>(end);
    if (where.sizeof_offsets < 2 || where.sizeof_offsets > 8 || where.sizeof_lengths < 2 ||
        where.sizeof_lengths > 8)
      damaged("sizes of offsets " + std::to_string(where.sizeof_offsets) + " and lengths " +
              std::to_string(where.sizeof_lengths) + " are not among 2, 4 and 8");
  }

  // Hdf5Damaged("object header at A: what") (or the kind of structure being read).
  [[noreturn]] void damaged(const std::string& what) const {
    throw Hdf5Damaged(kind_ + " at " + std::to_string(where_.address) + ": " + what);
  }

  // `length` bytes at file address `address` (relative to the base address, II.A), read whole;
  // Hdf5Damaged naming `what` when they lie past the end of the file.
  std::vector<unsigned char> read(uint64_t address, uint64_t length, const std::string& what) {
    uint64_t start = 0;
    uint64_t end = 0;
    if (__builtin_add_overflow(where_.base, address, &start) ||
        __builtin_add_overflow(start, length, &end) || end > file_size_)
      damaged(what + " at " + std::to_string(address) + " (" + std::to_string(length) +
              " bytes) lies past the end of the " + std::to_string(file_size_) + "-byte file");
    bytes_read_ += length;
    if (bytes_read_ > kMaxHeaderBytes)
      damaged("its chunks hold more than " + std::to_string(kMaxHeaderBytes) + " bytes");
    std::vector<unsigned char> out(static_cast<size_t>(length));
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(start));
    if (length > 0 &&
        !in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(length)))
      throw Hdf5Failure("cannot read " + where_.path + " at " + std::to_string(start));
    return out;
  }

  const HeaderLocation& where() const { return where_; }

 private:
  HeaderLocation where_;
  std::string kind_;
  std::ifstream in_;
  uint64_t file_size_ = 0;
  uint64_t bytes_read_ = 0;
};

// A chunk of header messages: its bytes and where they start in the file.
struct Chunk {
  uint64_t address = 0;  // of the chunk itself (prefix or "OCHK" signature included)
  std::vector<unsigned char> bytes;
  size_t begin = 0;  // the messages: bytes[begin, end)
  size_t end = 0;
};

// The NUL-terminated name at `p` (at most `n` bytes) for a report: printable ASCII, at most 64
// characters, any other byte shown as "?".
std::string printable_name(const unsigned char* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < 64 && p[i] != 0; ++i)
    s += p[i] >= 0x20 && p[i] < 0x7f ? static_cast<char>(p[i]) : '?';
  return s;
}

// Checks that attribute message number `index` (1-based among the header's attribute messages),
// `m[0, n)`, holds the parts its lengths claim (IV.A.2.m): name, datatype (IV.A.2.d), dataspace
// (IV.A.2.b) and data of (elements × element size) bytes.
void check_attribute(const HeaderReader& r, const unsigned char* m, size_t n, int index) {
  std::string label = "attribute message " + std::to_string(index);
  const auto fail = [&](const std::string& what) { r.damaged(label + ": " + what); };
  const std::string holds = "its message holds " + std::to_string(n);
  if (n < 1) fail("empty message");
  const unsigned version = m[0];
  if (version < 1 || version > 3)
    fail("unknown attribute message version " + std::to_string(version));
  // Version 1 and 2: version, flags (reserved in 1), three 2-byte sizes; version 3 adds the
  // name's character set. Only version 1 pads the three parts to multiples of 8.
  const size_t fixed = version == 3 ? 9 : 8;
  if (n < fixed) fail("claims " + std::to_string(fixed) + " bytes of sizes, " + holds);
  const unsigned flags = version >= 2 ? m[1] : 0;
  const uint64_t name_size = le(m + 2, 2);
  const uint64_t type_size = le(m + 4, 2);
  const uint64_t space_size = le(m + 6, 2);
  const auto padded = [&](uint64_t s) { return version == 1 ? align8(s) : s; };

  size_t at = fixed;
  if (padded(name_size) > n - at)
    fail("claims a " + std::to_string(name_size) + "-byte name, " + holds);
  if (name_size == 0 || std::memchr(m + at, 0, static_cast<size_t>(name_size)) == nullptr)
    fail("its name has no terminating NUL within its " + std::to_string(name_size) + " bytes");
  label += " ('" + printable_name(m + at, static_cast<size_t>(name_size)) + "')";
  at += static_cast<size_t>(padded(name_size));

  // The element size, from the datatype's own size field; unknown when the datatype is shared
  // (attribute flag bit 0: the field holds a reference to a committed datatype).
  bool element_known = false;
  uint64_t element = 0;
  if (padded(type_size) > n - at)
    fail("claims a " + std::to_string(type_size) + "-byte datatype, " + holds);
  if ((flags & 0x01) == 0) {
    if (type_size < 8)
      fail("its datatype claims " + std::to_string(type_size) +
           " bytes, fewer than the 8 of a datatype's class, bit fields and size");
    const unsigned type_class = m[at] & 0x0f;
    element = le(m + at + 4, 4);
    // A variable-length element is stored as a 4-byte length and a global heap ID (an offset and
    // a 4-byte index), whatever the size field says (IV.A.2.d, class 9).
    if (type_class == 9)
      element = std::max<uint64_t>(element, 4 + uint64_t{r.where().sizeof_offsets} + 4);
    element_known = true;
  }
  at += static_cast<size_t>(padded(type_size));

  // The number of elements, from the dataspace's dimension sizes; unknown when it is shared
  // (attribute flag bit 1).
  bool count_known = false;
  uint64_t count = 1;
  if (padded(space_size) > n - at)
    fail("claims a " + std::to_string(space_size) + "-byte dataspace, " + holds);
  if ((flags & 0x02) == 0) {
    const unsigned char* s = m + at;
    if (space_size < 4)
      fail("its dataspace claims " + std::to_string(space_size) + " bytes, too few for its header");
    const unsigned space_version = s[0];
    const unsigned rank = s[1];
    // Version 1: version, rank, flags, 5 reserved bytes, rank 0 being a scalar; version 2:
    // version, rank, flags, type (0 scalar, 1 simple, 2 null).
    size_t header = 0;
    if (space_version == 1) {
      header = 8;
    } else if (space_version == 2) {
      header = 4;
      if (s[3] > 2) fail("unknown dataspace type " + std::to_string(s[3]));
      if (s[3] == 2) count = 0;
    } else {
      fail("unknown dataspace version " + std::to_string(space_version));
    }
    if (rank > 32)
      fail("its dataspace claims " + std::to_string(rank) + " dimensions (at most 32)");
    const uint64_t lengths = r.where().sizeof_lengths;
    if (header + rank * lengths > space_size)
      fail("its dataspace claims " + std::to_string(rank) + " dimensions, more than its " +
           std::to_string(space_size) + " bytes hold");
    for (unsigned d = 0; d < rank && count > 0; ++d) {
      const uint64_t dim = le(s + header + d * lengths, static_cast<unsigned>(lengths));
      if (__builtin_mul_overflow(count, dim, &count))
        fail("its dataspace claims more than 2^64 elements");
    }
    count_known = true;
  }
  at += static_cast<size_t>(padded(space_size));

  if (element_known && count_known) {
    uint64_t data = 0;
    const bool overflow = __builtin_mul_overflow(count, element, &data);
    if (overflow || data > n - at)
      fail("claims " + (overflow ? std::string("more than 2^64") : std::to_string(data)) +
           " bytes of data (" + std::to_string(count) + " elements of " + std::to_string(element) +
           " bytes), its message holds " + std::to_string(n - at) +
           " after the name, datatype and dataspace");
  }
}

}  // namespace

void check_object_header(const HeaderLocation& where) {
  HeaderReader r(where);
  std::deque<Chunk> chunks;  // stays in place while continuations are appended
  std::set<uint64_t> seen{where.address};
  bool v2 = false;

  // Chunk 0 and the header's prefix.
  {
    Chunk c;
    c.address = where.address;
    std::vector<unsigned char> start = r.read(where.address, 4, "the header's prefix");
    if (std::memcmp(start.data(), "OHDR", 4) == 0) {
      // Version 2 (IV.A.1.b): "OHDR", version, flags; 16 bytes of times when flag bit 5 is set,
      // 4 bytes of attribute phase change values when bit 4 is; chunk 0's size in 1, 2, 4 or 8
      // bytes (flag bits 0-1); its messages; a 4-byte checksum.
      v2 = true;
      const std::vector<unsigned char> fixed = r.read(where.address, 6, "the header's prefix");
      if (fixed[4] != 2) r.damaged("unknown version " + std::to_string(fixed[4]));
      const unsigned flags = fixed[5];
      const uint64_t width = uint64_t{1} << (flags & 0x03);
      const uint64_t prefix =
          6 + ((flags & 0x20) != 0 ? 16u : 0u) + ((flags & 0x10) != 0 ? 4u : 0u);
      const std::vector<unsigned char> head =
          r.read(where.address, prefix + width, "the header's prefix");
      const uint64_t size = le(head.data() + prefix, static_cast<unsigned>(width));
      if (size > kMaxHeaderBytes) r.damaged("chunk 0 claims " + std::to_string(size) + " bytes");
      c.bytes = r.read(where.address, prefix + width + size, "chunk 0");
      c.begin = static_cast<size_t>(prefix + width);
    } else {
      // Version 1 (IV.A.1.a): version 1, reserved, 2-byte message count, 4-byte reference count,
      // 4-byte header size, padding to 16 bytes; then chunk 0's messages.
      const std::vector<unsigned char> head = r.read(where.address, 16, "the header's prefix");
      if (head[0] != 1) r.damaged("unknown version " + std::to_string(head[0]));
      const uint64_t size = le(head.data() + 8, 4);
      c.bytes = r.read(where.address, 16 + size, "chunk 0");
      c.begin = 16;
    }
    c.end = c.bytes.size();
    chunks.push_back(std::move(c));
  }

  // The messages, chunk by chunk, following continuations in order (IV.A.2.q).
  const size_t message_header = v2 ? 4 : 8;
  int messages = 0;
  int attributes = 0;
  for (size_t k = 0; k < chunks.size(); ++k) {
    const std::vector<unsigned char>& b = chunks[k].bytes;
    size_t at = chunks[k].begin;
    const size_t end = chunks[k].end;
    const std::string chunk_name = "chunk " + std::to_string(k) + " (at " +
                                   std::to_string(chunks[k].address) + ", " +
                                   std::to_string(end - chunks[k].begin) + " bytes of messages)";
    // Version 1 messages: type (2), size (2), flags (1), reserved (3). Version 2: type (1), size
    // (2), flags (1), creation order (2) when header flag bit 2 is set. A remainder too short for
    // a message header is the chunk's gap.
    const size_t header_size =
        v2 && (chunks[0].bytes[5] & 0x04) ? message_header + 2 : message_header;
    while (end - at >= header_size) {
      if (++messages > kMaxMessages)
        r.damaged("more than " + std::to_string(kMaxMessages) + " messages");
      const unsigned type = v2 ? b[at] : static_cast<unsigned>(le(&b[at], 2));
      const uint64_t size = v2 ? le(&b[at + 1], 2) : le(&b[at + 2], 2);
      const unsigned flags = v2 ? b[at + 3] : b[at + 4];
      at += header_size;
      if (size > end - at)
        r.damaged("message " + std::to_string(messages) + " (type " + std::to_string(type) +
                  ") claims " + std::to_string(size) + " bytes, only " + std::to_string(end - at) +
                  " remain in " + chunk_name);
      const unsigned char* m = &b[at];
      const auto n = static_cast<size_t>(size);
      at += n;
      if ((flags & kMessageShared) != 0) continue;  // a reference into the shared-message heap
      if (type == kAttribute) {
        check_attribute(r, m, n, ++attributes);
      } else if (type == kContinuation) {
        const unsigned so = where.sizeof_offsets;
        const unsigned sl = where.sizeof_lengths;
        const std::string label = "continuation message " + std::to_string(messages);
        if (n < so + sl)
          r.damaged(label + " holds " + std::to_string(n) +
                    " bytes, fewer than an offset and a length");
        const uint64_t address = le(m, so);
        const uint64_t length = le(m + so, sl);
        if (!seen.insert(address).second)
          r.damaged(label + " points back at the chunk at " + std::to_string(address) +
                    " (a cycle)");
        if (chunks.size() >= static_cast<size_t>(kMaxChunks))
          r.damaged("more than " + std::to_string(kMaxChunks) + " chunks");
        Chunk c;
        c.address = address;
        c.bytes = r.read(address, length, label + "'s chunk");
        c.begin = 0;
        c.end = c.bytes.size();
        if (v2) {
          // A version 2 continuation block: "OCHK", its messages, a 4-byte checksum (IV.A.1.b).
          if (c.end < 8 || std::memcmp(c.bytes.data(), "OCHK", 4) != 0)
            r.damaged(label + "'s chunk at " + std::to_string(address) + " has no OCHK signature");
          c.begin = 4;
          c.end -= 4;
        }
        chunks.push_back(std::move(c));
      }
      // Dense attribute storage (an attribute info message, IV.A.2.v, pointing at a fractal heap
      // and a B-tree) is not followed: only attributes stored in the header are checked.
    }
  }
}

std::optional<HeaderLocation> readable_location(hid_t loc) {
  const Handle file(H5Iget_file_id(loc), "file of the object");
  unsigned intent = 0;
  h5(H5Fget_intent(file, &intent), "H5Fget_intent");
  // A file open for writing may have newer headers in libhdf5's metadata cache than on disk.
  if ((intent & H5F_ACC_RDWR) != 0) return std::nullopt;
  const ssize_t length = h5(H5Fget_name(file, nullptr, 0), "H5Fget_name");
  std::string path(static_cast<size_t>(length), '\0');
  h5(H5Fget_name(file, path.data(), static_cast<size_t>(length) + 1), "H5Fget_name");
  H5O_info_t info{};
  h5(H5Oget_info2(loc, &info, H5O_INFO_BASIC), "H5Oget_info2");
  const Handle fcpl(H5Fget_create_plist(file), "H5Fget_create_plist");
  hsize_t userblock = 0;
  h5(H5Pget_userblock(fcpl, &userblock), "H5Pget_userblock");
  size_t sizeof_offsets = 0;
  size_t sizeof_lengths = 0;
  h5(H5Pget_sizes(fcpl, &sizeof_offsets, &sizeof_lengths), "H5Pget_sizes");
  return HeaderLocation{path, userblock, info.addr, static_cast<unsigned>(sizeof_offsets),
                        static_cast<unsigned>(sizeof_lengths)};
}

void check_object_header(hid_t loc) {
  if (const auto where = readable_location(loc)) check_object_header(*where);
}

void check_global_heap_object(const HeaderLocation& where, uint64_t index, uint64_t length) {
  HeaderReader r(where, "global heap collection");
  // The collection's header (III.E): "GCOL", version 1, 3 reserved bytes, the collection's size
  // (this header included).
  const unsigned lengths = where.sizeof_lengths;
  const uint64_t header = 8 + lengths;
  const std::vector<unsigned char> head = r.read(where.address, header, "its header");
  if (std::memcmp(head.data(), "GCOL", 4) != 0) r.damaged("no GCOL signature");
  if (head[4] != 1) r.damaged("unknown version " + std::to_string(head[4]));
  const uint64_t size = le(head.data() + 8, lengths);
  if (size < header) r.damaged("its size " + std::to_string(size) + " is less than its header");
  const std::vector<unsigned char> c =
      r.read(where.address, size, "its " + std::to_string(size) + " bytes");
  // Objects, walked the way libhdf5 loads the collection (H5HG__cache_heap_deserialize), all of
  // them, since libhdf5 walks all of them: index (2 bytes), reference count (2), reserved (4),
  // size, then the data padded to 8 bytes. Index 0 is free space, whose size counts its own
  // header and is not padded; a tail too short for an object header is free space too. A free
  // space object that does not move the walk forward would make libhdf5 loop for ever.
  const uint64_t object_header = 8 + lengths;
  std::optional<uint64_t> found;  // the size of object `index`
  for (uint64_t p = header; p + object_header <= size;) {
    const uint64_t i = le(c.data() + p, 2);
    const uint64_t bytes = le(c.data() + p + 8, lengths);
    uint64_t need = bytes;
    if (i == 0) {
      if (bytes < object_header || bytes > size - p)
        r.damaged("its free space at offset " + std::to_string(p) + " claims " +
                  std::to_string(bytes) + " bytes, not between its header's " +
                  std::to_string(object_header) + " and the " + std::to_string(size - p) + " left");
    } else if (__builtin_add_overflow(object_header, align8(bytes), &need) || need > size - p) {
      r.damaged("object " + std::to_string(i) + " claims " + std::to_string(bytes) +
                " bytes, the collection has " + std::to_string(size - p - object_header) + " left");
    }
    if (i == index && !found) found = bytes;
    p += need;
  }
  if (!found) r.damaged("no object " + std::to_string(index));
  if (length > *found)
    r.damaged("object " + std::to_string(index) + " holds " + std::to_string(*found) +
              " bytes, a reference to it claims " + std::to_string(length));
}

}  // namespace samplersearch::hdf5
