#include "llmlb/models/limits.hpp"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <cmath>
#include <pqxx/pqxx>

#include "llmlb/db/params.hpp"
#include "llmlb/error.hpp"
#include "llmlb/util/numbers.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::models {
namespace {

constexpr const char* kColumns =
    "name, rpm, burst, max_inflight, enabled, preference,"
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

ModelLimits from_row(const pqxx::row& r) {
  ModelLimits m;
  m.name = r[0].as<std::string>();
  m.rpm = r[1].as<double>();
  m.burst = r[2].as<int>();
  m.max_inflight = r[3].as<int>();
  m.enabled = r[4].as<bool>();
  m.preference = r[5].as<int>();
  m.updated_at = r[6].as<std::string>();
  return m;
}

std::optional<std::string> opt_text(const std::optional<int>& v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

}  // namespace

util::Result<bool> check_model_name(const std::string& name) {
  if (name.empty() || name.size() > 200) {
    return util::fail("a model name must be 1 to 200 characters");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == ' ' || c == ',') {
      return util::fail(
          fmt::format("invalid model name '{}': no spaces, commas or control characters", name));
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
  auto burst = whole(change.burst, "--burst", 1, 1'000'000);
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
  return v;
}

ModelLimits apply(pqxx::connection& connection, const ValidChange& change) {
  try {
    pqxx::work tx(connection);
    const auto existing =
        tx.exec_params("SELECT 1 FROM llmlb.models WHERE name = $1 FOR UPDATE", change.name);
    pqxx::result stored;
    const std::optional<std::string> rpm =
        change.rpm ? std::optional<std::string>(fmt::format("{}", *change.rpm)) : std::nullopt;
    const std::optional<std::string> enabled =
        change.enabled ? std::optional<std::string>(*change.enabled ? "true" : "false")
                       : std::nullopt;
    if (existing.empty()) {
      if (!change.rpm) {
        throw UsageError(fmt::format("model '{}' is new: --rpm is required", change.name));
      }
      const int burst =
          change.burst.value_or(std::max(1, static_cast<int>(std::ceil(*change.rpm / 60.0))));
      stored = tx.exec_params(
          fmt::format(
              "INSERT INTO llmlb.models (name, rpm, burst, max_inflight, enabled, preference)"
              " VALUES ($1, $2, $3, $4, coalesce($5::boolean, true), coalesce($6::int, 100))"
              " RETURNING {}",
              kColumns),
          change.name, *rpm, burst, change.max_inflight.value_or(50), db::nullable(enabled),
          db::nullable(opt_text(change.preference)));
    } else {
      stored = tx.exec_params(
          fmt::format("UPDATE llmlb.models SET rpm = coalesce($2::double precision, rpm),"
                      " burst = coalesce($3::int, burst),"
                      " max_inflight = coalesce($4::int, max_inflight),"
                      " enabled = coalesce($5::boolean, enabled),"
                      " preference = coalesce($6::int, preference)"
                      " WHERE name = $1 RETURNING {}",
                      kColumns),
          change.name, db::nullable(rpm), db::nullable(opt_text(change.burst)),
          db::nullable(opt_text(change.max_inflight)), db::nullable(enabled),
          db::nullable(opt_text(change.preference)));
    }
    tx.commit();
    return from_row(stored[0]);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DatabaseError(fmt::format("cannot store limits of model '{}': {}", change.name,
                                    util::first_line(e.what())));
  }
}

std::vector<ModelLimits> list(pqxx::connection& connection) {
  std::vector<ModelLimits> out;
  try {
    pqxx::read_transaction tx(connection);
    for (const auto& row :
         tx.exec(fmt::format("SELECT {} FROM llmlb.models ORDER BY preference, name", kColumns))) {
      out.push_back(from_row(row));
    }
  } catch (const std::exception& e) {
    throw DatabaseError(fmt::format("cannot read model limits: {}", util::first_line(e.what())));
  }
  return out;
}

std::string format_table(const std::vector<ModelLimits>& models) {
  std::size_t width = 5;
  for (const auto& m : models) {
    width = std::max(width, m.name.size());
  }
  std::string out =
      fmt::format("{:<{}}  {:>10}  {:>6}  {:>12}  {:>7}  {:>10}  {}\n", "MODEL", width, "RPM",
                  "BURST", "MAX_INFLIGHT", "ENABLED", "PREFERENCE", "UPDATED");
  for (const auto& m : models) {
    out +=
        fmt::format("{:<{}}  {:>10}  {:>6}  {:>12}  {:>7}  {:>10}  {}\n", m.name, width, m.rpm,
                    m.burst, m.max_inflight, m.enabled ? "yes" : "no", m.preference, m.updated_at);
  }
  if (models.empty()) {
    out += "(no models configured; add one with: llmlb limits set MODEL --rpm N)\n";
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
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace llmlb::models
