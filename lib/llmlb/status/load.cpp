#include "llmlb/status/load.hpp"

#include "llmlb/db/queries/status.hpp"
#include "llmlb/status/eta.hpp"

namespace llmlb::status {

StatusSnapshot load(db::Session& session, const StatusWindows& windows) {
  StatusSnapshot s = db::read_status(session, windows);
  s.eta = compute_eta(s.backlog, s.models);
  return s;
}

}  // namespace llmlb::status
