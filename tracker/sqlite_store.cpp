#include "tracker/sqlite_store.hpp"

#include "tracker/sqlite_store_sql.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace gs::tracker {

struct SqliteStore::Parts {
    Db db;
    std::unique_ptr<Statements> statements;
};

Result<SqliteStore::Parts> SqliteStore::open_parts(const std::string& path,
                                                   const std::vector<Migration>& migrations) {
    auto db = Db::open(path);
    if (!db) return db.error();
    auto version = migrate(*db, migrations);
    if (!version) {
        return make_error(Errc::Internal,
                          fmt::format("database '{}': {}", path, version.error().message));
    }
    auto statements = std::make_unique<Statements>();
    if (auto s = prepare_statements(*db, *statements); !s) {
        return make_error(Errc::Internal,
                          fmt::format("database '{}': {}", path, s.error().message));
    }
    return Parts{std::move(db).value(), std::move(statements)};
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       const std::vector<Migration>& migrations) {
    auto parts = open_parts(path, migrations);
    if (!parts) return parts.error();
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(parts).value()));
}

namespace {

template <class T>
T value_or_throw(Result<T> r) {
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(r).value();
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, const std::vector<Migration>& migrations)
    : SqliteStore(value_or_throw(open_parts(path, migrations))) {}

SqliteStore::SqliteStore(Parts parts)
    : db_(std::move(parts.db)), st_(std::move(parts.statements)) {}

SqliteStore::~SqliteStore() = default;

// ---- Accounts ----

namespace {

Credentials read_credentials(Statement& q) {
    return Credentials{q.column_int(0), q.column_text(1), q.column_text(2)};
}

}  // namespace

Result<bool> SqliteStore::create_user(std::string_view user_id, std::string_view password_hash,
                                      TimePoint now) {
    auto& q = st_->insert_user;
    auto use = q.use();
    q.bind_all(user_id, password_hash, utc_text(now));
    if (auto s = q.run(); !s) {
        if (s.error().code == Errc::AlreadyExists) return false;
        return storage_error("create_user", s.error());
    }
    return true;
}

Result<bool> SqliteStore::user_exists(std::string_view user_id) {
    return stored("user_exists", has_row(st_->user_exists, user_id));
}

Result<std::optional<Credentials>> SqliteStore::password_hash_of(std::string_view user_id) {
    return stored("password_hash_of", first_row(st_->credentials, read_credentials, user_id));
}

// ---- Sessions ----

Status SqliteStore::create_session(std::string_view token_hash, std::int64_t user_pk, TimePoint now,
                                   TimePoint expires_at) {
    return stored("create_session", run_once(st_->insert_session, token_hash, user_pk,
                                             utc_text(now), utc_text(expires_at)));
}

Result<std::optional<User>> SqliteStore::user_of_session(std::string_view token_hash,
                                                         TimePoint now) {
    return stored("user_of_session",
                  first_row(st_->session_user, read_user, token_hash, utc_text(now)));
}

Status SqliteStore::renew_session(std::string_view token_hash, TimePoint expires_at) {
    return stored("renew_session", run_once(st_->renew_session, token_hash, utc_text(expires_at)));
}

Status SqliteStore::delete_session(std::string_view token_hash) {
    return stored("delete_session", run_once(st_->delete_session, token_hash));
}

Status SqliteStore::delete_expired_sessions(TimePoint now) {
    return stored("delete_expired_sessions", run_once(st_->delete_expired_sessions, utc_text(now)));
}

Result<int> SqliteStore::delete_sessions_of_user(std::int64_t user_pk) {
    return stored("delete_sessions_of_user", count_changes(st_->delete_sessions_of_user, user_pk));
}

// ---- Presence (in memory: one tracker per database) ----

Status SqliteStore::set_online(std::uint64_t conn, std::int64_t user_pk,
                               std::string_view listen_addr, std::string_view peer_key) {
    presence_->set_online(conn, user_pk, listen_addr, peer_key);
    return {};
}

Status SqliteStore::set_offline(std::uint64_t conn) {
    presence_->set_offline(conn);
    return {};
}

Status SqliteStore::heartbeat(TimePoint /*now*/) {
    return {};
}

}  // namespace gs::tracker
