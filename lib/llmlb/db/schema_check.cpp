#include "llmlb/db/schema_check.hpp"

#include <fmt/format.h>
#include <map>
#include <pqxx/pqxx>
#include <set>

namespace llmlb::db {
namespace {

struct Column {
  std::string type;  ///< format_type(), e.g. "text", "character varying(20)", "jsonb"
  bool not_null = false;
  std::string default_expr;  ///< pg_get_expr() of the default, or ""
  bool generated = false;
  bool identity = false;
};

/// What llmlb needs of one column.
struct Need {
  const char* name;
  std::set<std::string> types;  ///< accepted format_type() values
  const char* type_fix;         ///< the type to ask for
  bool not_null;
  const char* default_value;  ///< the default llmlb needs (SQL literal), or nullptr: any/none
};

const std::set<std::string> kText = {"text", "character varying"};
const std::set<std::string> kWhole = {"integer", "bigint", "smallint"};
const std::set<std::string> kTime = {"timestamp with time zone"};

const std::vector<Need>& needs() {
  static const std::vector<Need> all = {
      {"id", kWhole, "bigint", true, nullptr},
      {"prompt", kText, "text", true, nullptr},
      {"status", kText, "text", true, "'unsolved'"},
      {"answer", kText, "text", false, nullptr},
      {"model", kText, "text", false, nullptr},
      {"answered_by", kText, "text", false, nullptr},
      {"attempts", kWhole, "integer", true, "0"},
      {"last_error", kText, "text", false, nullptr},
      {"created_at", kTime, "timestamptz", true, nullptr},
      {"solved_at", kTime, "timestamptz", false, nullptr},
      {"priority", kWhole, "integer", true, "0"},
      {"lease_owner", kText, "text", false, nullptr},
      {"lease_token", {"bigint"}, "bigint", false, nullptr},
      {"lease_model", kText, "text", false, nullptr},
      {"lease_expires_at", kTime, "timestamptz", false, nullptr},
      {"leased_at", kTime, "timestamptz", false, nullptr},
      {"retry_at", kTime, "timestamptz", false, nullptr},
  };
  return all;
}

/// "0", "'unsolved'::text", "'unsolved'::character varying" -> "0", "'unsolved'".
std::string bare_default(std::string expr) {
  if (const auto cast = expr.find("::"); cast != std::string::npos) {
    expr.erase(cast);
  }
  while (expr.size() >= 2 && expr.front() == '(' && expr.back() == ')') {
    expr = expr.substr(1, expr.size() - 2);
  }
  return expr;
}

std::string quoted(pqxx::dbtransaction& tx, const std::string& name) {
  return tx.quote_name(name);
}

}  // namespace

std::vector<std::string> tasks_table_problems(pqxx::dbtransaction& tx) {
  std::vector<std::string> problems;
  if (tx.exec("SELECT to_regclass('public.tasks')")[0][0].is_null()) {
    return problems;
  }
  std::map<std::string, Column> columns;
  for (const auto& row :
       tx.exec("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
               "       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attgenerated <> '',"
               "       a.attidentity <> ''"
               "  FROM pg_attribute a LEFT JOIN pg_attrdef d"
               "    ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
               " WHERE a.attrelid = 'public.tasks'::regclass AND a.attnum > 0"
               "   AND NOT a.attisdropped ORDER BY a.attnum")) {
    Column c;
    c.type = row[1].as<std::string>();
    c.not_null = row[2].as<bool>();
    c.default_expr = row[3].as<std::string>();
    c.generated = row[4].as<bool>();
    c.identity = row[5].as<bool>();
    columns.emplace(row[0].as<std::string>(), std::move(c));
  }
  const std::string table = "public.tasks";
  for (const Need& need : needs()) {
    const auto it = columns.find(need.name);
    if (it == columns.end()) {
      continue;  // migrate adds it
    }
    const Column& c = it->second;
    const std::string col = need.name;
    const std::string where = fmt::format("{}.{}", table, need.name);
    if (c.generated) {
      problems.push_back(fmt::format(
          "{} is a generated column; llmlb writes it: ALTER TABLE {} ALTER COLUMN {} DROP "
          "EXPRESSION",
          where, table, col));
      continue;
    }
    // "character varying(200)" is a bounded type: answers and errors would not fit.
    const bool accepted = need.types.count(c.type) != 0;
    if (!accepted) {
      problems.push_back(fmt::format(
          "{} is {}; llmlb needs {}: ALTER TABLE {} ALTER COLUMN {} TYPE {} (converting the "
          "existing values)",
          where, c.type, need.type_fix, table, col, need.type_fix));
      continue;
    }
    if (need.not_null && !c.not_null) {
      problems.push_back(fmt::format(
          "{} allows NULL; llmlb needs NOT NULL: ALTER TABLE {} ALTER COLUMN {} SET NOT NULL "
          "(after fixing the rows where it is NULL)",
          where, table, col));
      continue;
    }
    if (need.default_value != nullptr && bare_default(c.default_expr) != need.default_value) {
      problems.push_back(fmt::format(
          "{} {}; llmlb needs DEFAULT {}: ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", where,
          c.default_expr.empty() ? "has no default" : "defaults to " + c.default_expr,
          need.default_value, table, col, need.default_value));
    }
  }
  if (columns.count("id") != 0) {
    // Every write-back is "WHERE id = ...": one row per id.
    const bool unique = tx.exec(
                              "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a"
                              "   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                              " WHERE i.indrelid = 'public.tasks'::regclass AND i.indisunique"
                              "   AND i.indnkeyatts = 1 AND i.indpred IS NULL"
                              "   AND a.attname = 'id')")[0][0]
                            .as<bool>();
    if (!unique) {
      problems.push_back(
          "public.tasks.id is not unique; llmlb needs it to be: ALTER TABLE public.tasks ADD "
          "PRIMARY KEY (id)");
    }
  }
  if (columns.count("status") != 0) {
    // A CHECK of the user's own that rejects a status llmlb writes. Each is evaluated on a
    // probe row (every other column NULL, so a check on those passes): nothing is written.
    std::string probe_columns;
    for (const auto& row :
         tx.exec("SELECT quote_ident(attname), format_type(atttypid, atttypmod) FROM pg_attribute"
                 " WHERE attrelid = 'public.tasks'::regclass AND attnum > 0 AND NOT attisdropped"
                 "   AND attname <> 'status'")) {
      probe_columns +=
          fmt::format("NULL::{} AS {}, ", row[1].as<std::string>(), row[0].as<std::string>());
    }
    const std::string status_type = columns.at("status").type;
    for (const auto& row :
         tx.exec("SELECT conname, pg_get_expr(conbin, conrelid) FROM pg_constraint"
                 " WHERE conrelid = 'public.tasks'::regclass AND contype = 'c'"
                 "   AND conname <> 'tasks_llmlb_status_check'")) {
      const std::string name = row[0].as<std::string>();
      const std::string expr = row[1].as<std::string>();
      std::string rejected;
      try {
        pqxx::subtransaction probe(tx, "llmlb_check_probe");
        for (const char* status : {"unsolved", "solved", "failed"}) {
          const auto r = probe.exec(
              fmt::format("SELECT coalesce(({}), true) FROM (SELECT {}{}::{} AS status) AS tasks",
                          expr, probe_columns, probe.quote(status), status_type));
          if (!r[0][0].as<bool>()) {
            rejected = status;
            break;
          }
        }
        probe.commit();
      } catch (const pqxx::sql_error&) {
        continue;  // an expression that cannot be probed this way: give it the benefit
      }
      if (!rejected.empty()) {
        problems.push_back(fmt::format(
            "CHECK constraint {} on public.tasks rejects status '{}', which llmlb writes "
            "(unsolved, solved, failed): ALTER TABLE public.tasks DROP CONSTRAINT {}",
            name, rejected, quoted(tx, name)));
      }
    }
  }
  return problems;
}

}  // namespace llmlb::db
