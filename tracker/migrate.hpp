// Schema migrations: the numbered db/migrations/<dialect>/NNNN_name.sql files, embedded at build
// time by db/embed_migrations.py, applied in order on open. Called once by SqliteStore::open on
// the reactor thread, before anything else touches the database (PostgreSQL: tracker/pg/).
#pragma once

#include "shared/result.hpp"
#include "tracker/sqlite/db.hpp"

#include <functional>
#include <string_view>
#include <vector>

namespace gs::tracker {

struct Migration {
    int version = 0;
    std::string_view name;  // the file name, e.g. "0002_files.sql"
    std::string_view sql;
};

// Every db/migrations/sqlite/*.sql, ordered by number (generated; see db/meson.build).
const std::vector<Migration>& embedded_migrations();
// Every db/migrations/postgresql/*.sql, the same way.
const std::vector<Migration>& embedded_pg_migrations();

// Checks that `migrations` are numbered 1, 2, 3, ... in order, with no gap and no duplicate.
Status check_numbering(const std::vector<Migration>& migrations);

// The highest version recorded in schema_version; 0 for a database without that table.
Result<int> schema_version(Db& db);

// Creates schema_version if missing, then applies each migration numbered above the current
// version, each in its own BEGIN IMMEDIATE transaction that also records its number. A failure
// rolls that migration back, leaves the earlier ones applied, and names the file. A database
// newer than `migrations` is refused. Returns the version the database is at.
Result<int> migrate(Db& db, const std::vector<Migration>& migrations = embedded_migrations());

// The part both engines share, for a database at version `current`: refuses one newer than
// `migrations`, then calls apply_one(m) for each migration above `current` in order, logging
// each as applied to `database`; the first failure stops it, naming the file. Returns the
// version the database is then at.
Result<int> apply_pending(int current, const std::vector<Migration>& migrations,
                          std::string_view database,
                          const std::function<Status(const Migration&)>& apply_one);

}  // namespace gs::tracker
