#pragma once
// Whole-file safety for the files the project writes: an advisory writer lock that the kernel
// drops when its holder dies, fsync of a file and of its directory, and replacing a file at once
// (a temporary beside it, then rename(2), so a reader or a crash never sees half a file).
#include <functional>
#include <string>

namespace samplersearch {

// Opens `path` read-write and takes an open-file-description write lock (F_OFD_SETLK) on one
// byte far past its end; returns the descriptor that holds it. FileError naming the path when
// another process holds it, or when the path was replaced while it was being locked.
int lock_file(const std::string& path);
// True when a process holds lock_file's lock on `path` (F_OFD_GETLK: nothing is taken); false
// when nobody does or the file cannot be opened.
bool writer_lock_held(const std::string& path);
// fdatasync(fd) (nothing for fd < 0); FileError naming `path` when it fails.
void sync_fd(int fd, const std::string& path);
// fsync of the directory holding `path`, so a rename or a creation in it is durable.
void sync_dir(const std::string& path);

// A fresh name beside `path` for a temporary file: path.tmp.<pid>.<counter>.
std::string temporary_path(const std::string& path);
// Writes `path` at once: write(tmp) fills a temporary file beside it, which then replaces `path`
// by rename(2). On any exception the temporary is removed and the exception propagates (a
// failed rename is std::filesystem::filesystem_error).
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write);

}  // namespace samplersearch
