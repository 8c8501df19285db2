#include "llmlb/report/data.hpp"

#include <algorithm>

namespace llmlb::report {

std::vector<long long> ReportData::backlog() const {
  std::vector<long long> out;
  long long level = backlog_at_start;
  for (int i = 0; i < buckets; ++i) {
    const auto at = [i](const std::vector<long long>& v) {
      return static_cast<std::size_t>(i) < v.size() ? v[static_cast<std::size_t>(i)] : 0LL;
    };
    level += at(created) - at(solved) - at(failed);
    out.push_back(std::max(level, 0LL));
  }
  return out;
}

}  // namespace llmlb::report
