#include "llmlb/db/queries/tasks.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <algorithm>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {

std::size_t insert_tasks(Session& session, const std::vector<enqueue::TaskInput>& tasks) {
  constexpr std::size_t kBatch = 1000;
  std::size_t inserted = 0;
  translate_errors("cannot insert tasks, none were inserted", [&] {
    pqxx::work tx(connection_of(session));
    for (std::size_t start = 0; start < tasks.size(); start += kBatch) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartArray();
      for (std::size_t i = start; i < std::min(tasks.size(), start + kBatch); ++i) {
        const auto& t = tasks[i];
        w.StartObject();
        w.Key("prompt");
        w.String(t.prompt.data(), static_cast<rapidjson::SizeType>(t.prompt.size()));
        w.Key("model");
        if (t.model) {
          w.String(t.model->data(), static_cast<rapidjson::SizeType>(t.model->size()));
        } else {
          w.Null();
        }
        w.Key("priority");
        w.Int(t.priority);
        w.EndObject();
      }
      w.EndArray();
      const auto r = tx.exec_params(
          "WITH ins AS (INSERT INTO public.tasks (prompt, model, priority)"
          " SELECT x.prompt, x.model, x.priority"
          " FROM json_to_recordset($1::json) AS x(prompt text, model text, priority integer)"
          " RETURNING 1) SELECT count(*) FROM ins",
          std::string(buf.GetString(), buf.GetSize()));
      inserted += r[0][0].as<std::size_t>();
    }
    tx.commit();
  });
  return inserted;
}

}  // namespace llmlb::db
