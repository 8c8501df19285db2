#include "llmlb/util/log.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <chrono>
#include <cmath>
#include <ctime>

namespace llmlb::util {
namespace {

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const auto n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) {
      return;  // nowhere left to report a broken stderr
    }
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

LogField num(std::string key, double value) {
  if (!std::isfinite(value)) {
    return {std::move(key), "null", true};
  }
  return {std::move(key), fmt::format("{:.6g}", value), true};
}
LogField num(std::string key, long long value) {
  return {std::move(key), std::to_string(value), true};
}
LogField str(std::string key, std::string value) {
  return {std::move(key), std::move(value), false};
}

void Logger::write(std::string_view level, std::string_view event, std::string_view message,
                   const std::vector<LogField>& fields) const {
  if (format_ == LogFormat::text) {
    write_all(fd_, fmt::format("llmlb: {}\n", message));
    return;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("ts");
  text(iso_now());
  w.Key("level");
  text(level);
  w.Key("event");
  text(event);
  w.Key("msg");
  text(message);
  for (const auto& f : fields) {
    w.Key(f.key.data(), static_cast<rapidjson::SizeType>(f.key.size()));
    if (f.number) {
      w.RawValue(f.value.data(), f.value.size(), rapidjson::kNumberType);
    } else {
      text(f.value);
    }
  }
  w.EndObject();
  write_all(fd_, std::string(buf.GetString(), buf.GetSize()) + "\n");
}

void Logger::raw(std::string_view text) const {
  if (format_ == LogFormat::text) {
    write_all(fd_, std::string(text));
  }
}

}  // namespace llmlb::util
