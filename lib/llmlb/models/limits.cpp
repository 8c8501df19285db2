#include "llmlb/models/limits.hpp"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <algorithm>
#include <cmath>

#include "llmlb/util/duration.hpp"
#include "llmlb/util/numbers.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::models {

int default_burst(double rpm) noexcept {
  const double second = std::ceil(rpm / 60.0);
  return second >= kMaxBurst ? kMaxBurst : std::max(1, static_cast<int>(second));
}

util::Result<bool> check_model_name(const std::string& name) {
  if (name.empty() || name.size() > 200) {
    return util::fail("a model name must be 1 to 200 characters");
  }
  for (std::size_t i = 0; i < name.size();) {
    if (util::next_code_point(name, i) < 0) {
      return util::fail(
          fmt::format("invalid model name '{}': not valid UTF-8", util::sanitize(name)));
    }
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == ' ' || c == ',') {
      return util::fail(
          fmt::format("invalid model name '{}': no spaces, commas or control characters",
                      util::sanitize(name)));
    }
  }
  return true;
}

util::Result<ValidChange> validate(const LimitsChange& change) {
  if (auto ok = check_model_name(change.name); !ok) {
    return util::fail(ok.error());
  }
  ValidChange v;
  v.name = change.name;
  v.enabled = change.enabled;
  if (change.rpm) {
    auto r = util::parse_double(*change.rpm, 0, 1e9);
    if (!r || r.value() <= 0) {
      return util::fail(
          fmt::format("invalid --rpm '{}': must be a number greater than 0 and at "
                      "most 1e9 (requests per minute)",
                      *change.rpm));
    }
    v.rpm = r.value();
  }
  auto whole = [](const std::optional<std::string>& text, const char* option, std::int64_t min,
                  std::int64_t max) -> util::Result<std::optional<int>> {
    if (!text) {
      return std::optional<int>();
    }
    auto r = util::parse_int(*text, min, max);
    if (!r) {
      return util::fail(fmt::format("invalid {} '{}': must be a whole number from {} to {}", option,
                                    *text, min, max));
    }
    return std::optional<int>(static_cast<int>(r.value()));
  };
  auto burst = whole(change.burst, "--burst", 1, kMaxBurst);
  if (!burst) {
    return util::fail(burst.error());
  }
  auto inflight = whole(change.max_inflight, "--max-inflight", 1, 1'000'000);
  if (!inflight) {
    return util::fail(inflight.error());
  }
  auto pref = whole(change.preference, "--preference", -1'000'000, 1'000'000);
  if (!pref) {
    return util::fail(pref.error());
  }
  v.burst = burst.value();
  v.max_inflight = inflight.value();
  v.preference = pref.value();
  if (change.probe_interval) {
    auto d = util::parse_duration(*change.probe_interval);
    if (!d || d.value().count() < 100 || d.value().count() > 86'400'000) {
      return util::fail(fmt::format(
          "invalid --probe-interval '{}': must be a duration from 100ms to 1d, e.g. 30s",
          *change.probe_interval));
    }
    v.probe_interval_seconds = static_cast<double>(d.value().count()) / 1000.0;
  }
  if (change.tpm && *change.tpm == "none") {
    v.clear_tpm = true;
  } else if (change.tpm) {
    auto r = util::parse_double(*change.tpm, 0, 1e9);
    if (!r || r.value() <= 0) {
      return util::fail(
          fmt::format("invalid --tpm '{}': must be a number greater than 0 and at most 1e9 "
                      "(tokens per minute), or none",
                      *change.tpm));
    }
    v.tpm = r.value();
  }
  if (change.tpm_burst && *change.tpm_burst == "default") {
    v.clear_tpm_burst = true;
  } else {
    auto tb = whole(change.tpm_burst, "--tpm-burst", 1, 1'000'000'000);
    if (!tb) {
      return util::fail(tb.error() + ", or default");
    }
    v.tpm_burst = tb.value();
  }
  if (change.bytes_per_token) {
    auto r = util::parse_double(*change.bytes_per_token, 0.5, 64);
    if (!r) {
      return util::fail(
          fmt::format("invalid --bytes-per-token '{}': must be a number from 0.5 to 64",
                      *change.bytes_per_token));
    }
    v.bytes_per_token = r.value();
  }
  return v;
}

std::string format_table(const std::vector<ModelLimits>& models) {
  std::size_t width = 5;
  for (const auto& m : models) {
    width = std::max(width, m.name.size());
  }
  // Issue 17: the token-budget columns only when a model has one (rpm-only output unchanged).
  const bool tokens = std::any_of(models.begin(), models.end(),
                                  [](const ModelLimits& m) { return m.tpm.has_value(); });
  std::string out = fmt::format("{:<{}}  {:>10}  {:>6}  {:>12}  {:>7}  {:>10}  {}", "MODEL", width,
                                "RPM", "BURST", "MAX_INFLIGHT", "ENABLED", "PREFERENCE", "UPDATED");
  out += tokens ? fmt::format("{:>{}}  {:>10}  {:>9}\n", "", 20 - 7, "TPM", "TPM_BURST") : "\n";
  for (const auto& m : models) {
    out +=
        fmt::format("{:<{}}  {:>10}  {:>6}  {:>12}  {:>7}  {:>10}  {}", m.name, width, m.rpm,
                    m.burst, m.max_inflight, m.enabled ? "yes" : "no", m.preference, m.updated_at);
    if (tokens) {
      const std::string tpm = m.tpm ? fmt::format("{}", *m.tpm) : "-";
      const std::string tpm_burst = !m.tpm        ? "-"
                                    : m.tpm_burst ? std::to_string(*m.tpm_burst)
                                                  : fmt::format("{:.0f}*", std::ceil(*m.tpm / 6.0));
      out += fmt::format("{:>{}}  {:>10}  {:>9}", "",
                         20 - std::min<std::size_t>(20, m.updated_at.size()), tpm, tpm_burst);
    }
    out += "\n";
  }
  if (models.empty()) {
    out += "(no models configured; add one with: llmlb limits set MODEL --rpm N)\n";
  } else if (std::any_of(models.begin(), models.end(),
                         [](const ModelLimits& m) { return m.tpm && !m.tpm_burst; })) {
    out += "(* the default token burst: 10 s of tpm)\n";
  }
  return out;
}

std::string format_json(const std::vector<ModelLimits>& models) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const auto& m : models) {
    w.StartObject();
    w.Key("name");
    w.String(m.name.c_str(), static_cast<rapidjson::SizeType>(m.name.size()));
    w.Key("rpm");
    w.Double(m.rpm);
    w.Key("burst");
    w.Int(m.burst);
    w.Key("max_inflight");
    w.Int(m.max_inflight);
    w.Key("enabled");
    w.Bool(m.enabled);
    w.Key("preference");
    w.Int(m.preference);
    w.Key("updated_at");
    w.String(m.updated_at.c_str());
    if (m.tpm) {  // issue 17: only for a model with a token budget (rpm-only rows unchanged)
      w.Key("tpm");
      w.Double(*m.tpm);
      w.Key("tpm_burst");
      m.tpm_burst ? w.Int(*m.tpm_burst) : w.Null();
      w.Key("tpm_capacity");
      w.Double(m.tpm_capacity);
      w.Key("bytes_per_token");
      w.Double(m.bytes_per_token);
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace llmlb::models
