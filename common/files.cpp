// File locks, fsync and atomic replacement (include/samplersearch/common/files.hpp).
#include "samplersearch/common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// The writer lock: an open-file-description write lock on byte 2^62 of the file (advisory, so
// readers never notice it; released by the kernel when the process dies).
constexpr off_t kLockOffset = off_t{1} << 62;

}  // namespace

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

bool writer_lock_held(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kLockOffset;
  fl.l_len = 1;
  const bool held = ::fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  ::close(fd);
  return held;
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

std::string temporary_path(const std::string& path) {
  static std::atomic<int> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write) {
  const std::string tmp = temporary_path(path);
  try {
    write(tmp);
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace samplersearch
