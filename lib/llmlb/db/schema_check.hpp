// Checks a pre-existing public.tasks against what llmlb relies on, before migrate changes
// anything: `migrate` only adds missing columns, so a column of the wrong type, nullability or
// default would otherwise be kept and break producers, workers or write-back later.
#pragma once

#include <string>
#include <vector>

#include <pqxx/dbtransaction>

namespace llmlb::db {

/// What is wrong with public.tasks, one line each, saying what to change, e.g. "public.tasks.
/// answer is jsonb; llmlb needs text: ALTER TABLE public.tasks ALTER COLUMN answer TYPE text".
/// Empty when the table is missing (migrate creates it) or fit for llmlb. Checks each column
/// llmlb uses that exists: its type, NOT NULL where llmlb needs it, the default of status,
/// attempts and priority, no generated columns; that id is unique; and that no CHECK
/// constraint (other than llmlb's own) rejects a status llmlb writes. Reads only.
std::vector<std::string> tasks_table_problems(pqxx::dbtransaction& tx);

}  // namespace llmlb::db
