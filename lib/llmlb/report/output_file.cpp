#include "llmlb/report/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <vector>

#include "llmlb/error.hpp"

namespace llmlb::report {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

PendingFile::PendingFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) {
    throw UsageError("--output: empty path");
  }
  struct stat st {};
  if (path_.back() == '/' || (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    throw UsageError(fmt::format("cannot write {}: it is a directory", path_));
  }
  if (::access(path_.c_str(), F_OK) == 0 && ::access(path_.c_str(), W_OK) != 0) {
    throw UsageError(fmt::format("cannot write {}: {}", path_, errno_text(errno)));
  }
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  std::string templ = (slash == std::string::npos ? std::string() : dir) + "." + base + ".XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  fd_ = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      throw UsageError(fmt::format("cannot write {}: directory {} does not exist", path_, dir));
    }
    throw UsageError(fmt::format("cannot write {}: {}", path_, errno_text(err)));
  }
  temp_ = buf.data();
  // mkostemp creates mode 0600; a report is an ordinary file, so honour the umask instead.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd_, static_cast<mode_t>(0666 & ~mask));
}

PendingFile::~PendingFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (!temp_.empty()) {
    ::unlink(temp_.c_str());
  }
}

void PendingFile::commit(std::string_view content) {
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const auto n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw RuntimeError(fmt::format("cannot write {}: {}", path_, errno_text(errno)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    throw RuntimeError(fmt::format("cannot write {}: {}", path_, errno_text(errno)));
  }
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    throw RuntimeError(fmt::format("cannot write {}: {}", path_, errno_text(errno)));
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    throw RuntimeError(fmt::format("cannot write {}: {}", path_, errno_text(errno)));
  }
  temp_.clear();
}

}  // namespace llmlb::report
