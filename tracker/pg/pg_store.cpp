// PgStore: opening and migrating, accounts, sessions, presence and the ticket key.
#include "tracker/pg/pg_store.hpp"

#include "shared/log.hpp"
#include "tracker/pg/pg_store_tx.hpp"

#include <fmt/format.h>
#include <sodium.h>

namespace gs::tracker {

bool is_postgres_uri(std::string_view db) {
    return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

std::string redact_uri(std::string_view uri) {
    std::string out(uri);
    // postgresql://user:password@host...: the user info ends at the last '@' before the path.
    const auto start = out.find("://");
    if (start != std::string::npos) {
        const auto path = out.find_first_of("/?", start + 3);
        const auto at = out.rfind('@', path == std::string::npos ? std::string::npos : path);
        if (at != std::string::npos && at > start) {
            const auto colon = out.find(':', start + 3);
            if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
        }
    }
    // ...?password=secret&...
    for (auto p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
        const auto value = p + 9;
        const auto end = out.find('&', value);
        out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
    }
    return out;
}

// ---- Migrations ----

namespace {

// The advisory lock key every tracker takes around checking and applying migrations
// ("groupshare" in ASCII, in the low bytes).
constexpr std::int64_t kMigrationLock = 0x67726f7570736861;

constexpr std::string_view kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";

Result<int> read_version(pg::Conn& conn) {
    auto rows = conn.query("SELECT coalesce(max(version), 0) FROM schema_version");
    if (!rows) return rows.error();
    return static_cast<int>(rows->integer(0, 0));
}

Status apply(pg::Conn& conn, const Migration& m) {
    if (auto s = conn.exec("BEGIN"); !s) return s;
    Status s = conn.exec(m.sql);
    if (s) {
        auto recorded =
            conn.query("INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                       m.version, m.name, utc_text(std::chrono::system_clock::now()));
        if (!recorded) s = recorded.error();
    }
    if (s) s = conn.exec("COMMIT");
    if (!s && conn.good()) (void)conn.exec("ROLLBACK");
    return s;
}

Result<int> migrate_locked(pg::Conn& conn, const std::vector<Migration>& migrations) {
    if (auto s = conn.exec(kCreateSchemaVersion); !s) {
        return make_error(Errc::Internal,
                          fmt::format("cannot create schema_version: {}", s.error().message));
    }
    auto current = read_version(conn);
    if (!current) return current.error();
    return apply_pending(*current, migrations, "database",
                         [&](const Migration& m) { return apply(conn, m); });
}

}  // namespace

Result<int> migrate_pg(pg::Conn& conn, const std::vector<Migration>& migrations) {
    if (auto s = check_numbering(migrations); !s) return s.error();
    // Waiting for another tracker's migrations, or building an index on a large table, may take
    // longer than one request may: no statement timeout meanwhile.
    if (auto s = conn.exec("SET statement_timeout = 0"); !s) return s.error();
    // A session lock (not a transaction's): each migration commits on its own while it is held.
    // It goes with the session if the connection drops.
    if (auto locked = conn.query("SELECT pg_advisory_lock($1)", kMigrationLock); !locked) {
        return locked.error();
    }
    auto version = migrate_locked(conn, migrations);
    if (conn.good()) {
        (void)conn.query("SELECT pg_advisory_unlock($1)", kMigrationLock);
        if (auto s = conn.exec(fmt::format("SET statement_timeout = {}", pg::kStatementTimeoutMs));
            !s && version) {
            return s.error();
        }
    }
    return version;
}

// ---- Opening ----

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& uri,
                                               const std::string& tracker_id,
                                               const std::vector<Migration>& migrations) {
    pg::Conn conn(uri);
    if (auto s = conn.connect(); !s) {
        return make_error(Errc::Internal, fmt::format("database: {}", s.error().message));
    }
    auto version = migrate_pg(conn, migrations);
    if (!version) {
        return make_error(Errc::Internal, fmt::format("database: {}", version.error().message));
    }
    return std::unique_ptr<PgStore>(new PgStore(std::move(conn), tracker_id));
}

PgStore::PgStore(pg::Conn conn, std::string tracker_id)
    : conn_(std::move(conn)), tracker_id_(std::move(tracker_id)) {}

PgStore::~PgStore() = default;

Error PgStore::storage_error(std::string_view operation, const Error& cause) {
    log::error("store: {} failed: {}", operation, cause.message);
    if (!conn_.good()) {
        return make_error(Errc::Internal,
                          "database unavailable: the tracker lost its database; try again later");
    }
    return make_error(Errc::Internal, "the tracker could not use its database; try again later");
}

// ---- Ticket key ----

Result<TicketSigner> PgStore::load_or_create_ticket_signer() {
    constexpr std::string_view kOp = "load_or_create_ticket_signer";
    std::string seed(crypto_sign_SEEDBYTES, '\0');
    randombytes_buf(seed.data(), seed.size());
    // The first tracker's seed stays; every later one reads it.
    auto made = conn_.query(
        "INSERT INTO ticket_key (id, seed, created_at) VALUES (1, $1, $2)"
        " ON CONFLICT (id) DO NOTHING",
        pg::Bytes{seed}, utc_text(std::chrono::system_clock::now()));
    sodium_memzero(seed.data(), seed.size());
    if (!made) return storage_error(kOp, made.error());
    auto rows = conn_.query("SELECT seed FROM ticket_key WHERE id = 1");
    if (!rows) return storage_error(kOp, rows.error());
    if (rows->empty()) return make_error(Errc::Internal, "the database has no ticket key");
    std::string stored_seed = rows->bytes(0, 0);
    auto signer = TicketSigner::from_seed(stored_seed);
    sodium_memzero(stored_seed.data(), stored_seed.size());
    return signer;
}

// ---- Accounts ----

Result<bool> PgStore::create_user(std::string_view user_id, std::string_view password_hash,
                                  TimePoint now) {
    auto rows = conn_.query(
        "INSERT INTO users (user_id, password_hash, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO NOTHING",
        user_id, password_hash, utc_text(now));
    if (!rows) return storage_error("create_user", rows.error());
    return rows->affected() == 1;
}

Result<bool> PgStore::user_exists(std::string_view user_id) {
    auto rows = conn_.query("SELECT 1 FROM users WHERE user_id = $1", user_id);
    if (!rows) return storage_error("user_exists", rows.error());
    return !rows->empty();
}

Result<std::optional<Credentials>> PgStore::password_hash_of(std::string_view user_id) {
    auto rows =
        conn_.query("SELECT pk, user_id, password_hash FROM users WHERE user_id = $1", user_id);
    if (!rows) return storage_error("password_hash_of", rows.error());
    if (rows->empty()) return std::optional<Credentials>();
    return std::optional<Credentials>(
        Credentials{rows->integer(0, 0), rows->text(0, 1), rows->text(0, 2)});
}

// ---- Sessions ----

Status PgStore::create_session(std::string_view token_hash, std::int64_t user_pk, TimePoint now,
                               TimePoint expires_at) {
    return stored<void>(
        "create_session",
        pg::done(conn_.query("INSERT INTO sessions (token_hash, user_pk, created_at,"
                             " expires_at) VALUES ($1, $2, $3, $4)",
                             token_hash, user_pk, utc_text(now), utc_text(expires_at))));
}

Result<std::optional<User>> PgStore::user_of_session(std::string_view token_hash, TimePoint now) {
    auto rows = conn_.query(
        "SELECT u.pk, u.user_id FROM sessions s JOIN users u ON u.pk = s.user_pk"
        " WHERE s.token_hash = $1 AND s.expires_at > $2",
        token_hash, utc_text(now));
    if (!rows) return storage_error("user_of_session", rows.error());
    if (rows->empty()) return std::optional<User>();
    return std::optional<User>(User{rows->integer(0, 0), rows->text(0, 1)});
}

Status PgStore::renew_session(std::string_view token_hash, TimePoint expires_at) {
    return stored<void>(
        "renew_session",
        pg::done(conn_.query("UPDATE sessions SET expires_at = $2 WHERE token_hash = $1",
                             token_hash, utc_text(expires_at))));
}

Status PgStore::delete_session(std::string_view token_hash) {
    return stored<void>(
        "delete_session",
        pg::done(conn_.query("DELETE FROM sessions WHERE token_hash = $1", token_hash)));
}

Status PgStore::delete_expired_sessions(TimePoint now) {
    return stored<void>(
        "delete_expired_sessions",
        pg::done(conn_.query("DELETE FROM sessions WHERE expires_at <= $1", utc_text(now))));
}

Result<int> PgStore::delete_sessions_of_user(std::int64_t user_pk) {
    auto rows = conn_.query("DELETE FROM sessions WHERE user_pk = $1", user_pk);
    if (!rows) return storage_error("delete_sessions_of_user", rows.error());
    return rows->affected();
}

// ---- Presence ----

Status PgStore::set_online(std::uint64_t conn, std::int64_t user_pk, std::string_view listen_addr,
                           std::string_view peer_key) {
    return in_transaction("set_online", [&]() -> Status {
        // The lease row exists from the first heartbeat; until then this one holds for a lease.
        if (auto s = pg::done(conn_.query("INSERT INTO tracker_leases (tracker_id, lease_until)"
                                          " VALUES ($1, now() + make_interval(secs => $2))"
                                          " ON CONFLICT (tracker_id) DO NOTHING",
                                          tracker_id_,
                                          static_cast<std::int64_t>(kTrackerLease.count())));
            !s) {
            return s;
        }
        return pg::done(conn_.query(
            "INSERT INTO presence (tracker_id, conn, user_pk, listen_addr, peer_key)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tracker_id, conn) DO UPDATE"
            " SET user_pk = EXCLUDED.user_pk, listen_addr = EXCLUDED.listen_addr,"
            " peer_key = EXCLUDED.peer_key",
            tracker_id_, static_cast<std::int64_t>(conn), user_pk, listen_addr, peer_key));
    });
}

Status PgStore::set_offline(std::uint64_t conn) {
    return stored<void>(
        "set_offline",
        pg::done(conn_.query("DELETE FROM presence WHERE tracker_id = $1 AND conn = $2",
                             tracker_id_, static_cast<std::int64_t>(conn))));
}

// Leases are reckoned on the database's clock alone (now() here and in the online check), so
// the trackers' clocks need not agree, and a tracker on a test clock keeps its lease.
Status PgStore::heartbeat(TimePoint /*now*/) {
    return in_transaction("heartbeat", [&]() -> Status {
        if (auto s = pg::done(conn_.query(
                "INSERT INTO tracker_leases (tracker_id, lease_until)"
                " VALUES ($1, now() + make_interval(secs => $2))"
                " ON CONFLICT (tracker_id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
                tracker_id_, static_cast<std::int64_t>(kTrackerLease.count())));
            !s) {
            return s;
        }
        // Trackers that stopped renewing are gone, with their presence rows (ON DELETE CASCADE).
        return pg::done(conn_.query("DELETE FROM tracker_leases WHERE lease_until < now()"));
    });
}

Status PgStore::release() {
    // The presence rows go with the lease (ON DELETE CASCADE).
    return stored<void>(
        "release",
        pg::done(conn_.query("DELETE FROM tracker_leases WHERE tracker_id = $1", tracker_id_)));
}

}  // namespace gs::tracker
