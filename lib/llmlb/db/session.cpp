#include "llmlb/db/session.hpp"

#include "llmlb/db/connection.hpp"
#include "llmlb/db/migrations.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {

Session::Session(const std::string& conninfo)
    : impl_(std::make_unique<Impl>(Impl{conninfo, connect(conninfo)})) {}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

const std::string& Session::conninfo() const noexcept {
  return impl_->conninfo;
}

Session open_checked(const std::string& conninfo) {
  Session session(conninfo);
  require_current_schema(session);
  return session;
}

}  // namespace llmlb::db
