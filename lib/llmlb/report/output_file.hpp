// Writing an output file atomically, with the destination checked before any work is done.
#pragma once

#include <string>
#include <string_view>

namespace llmlb::report {

/// A file that appears complete or not at all. The constructor creates a temporary file in the
/// destination's directory, so an unwritable destination is reported before anything is
/// queried; commit() writes the content and renames it over the destination. Destroyed
/// without commit(), it removes the temporary file and leaves the destination untouched.
class PendingFile {
 public:
  /// Throws UsageError (exit 2) when `path` is empty, names a directory, lies in a directory
  /// that does not exist or is not writable, or names an existing file that is not writable.
  explicit PendingFile(std::string path);
  ~PendingFile();
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  /// Writes `content`, flushes it to disk and renames the file into place. Throws RuntimeError
  /// on an I/O failure (then nothing is left behind). Call at most once.
  void commit(std::string_view content);

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
};

}  // namespace llmlb::report
