// PgStore: Store on a PostgreSQL database shared by every tracker of a set. Each PgStore owns
// one connection (tracker/pg/conn.hpp) and is used by one thread at a time; a tracker process
// may hold several (one per worker thread), all with the same tracker id, so they share one
// lease and one presence set.
//
// Same answers as SqliteStore for every call, also when trackers race: uniqueness is the
// database's (INSERT ... ON CONFLICT DO NOTHING and row counts), and every change to a group's
// membership or a file's seeders first locks that group's or file's row (SELECT ... FOR UPDATE),
// so two trackers changing the same group take turns. A deadlock or serialization failure is
// retried a few times.
//
// A lost database fails the call at once with Errc::Internal ("database unavailable: ...",
// details in the log); the next call reconnects. Opening applies db/migrations/postgresql/ under
// an advisory lock, so trackers starting together apply each migration exactly once.
#pragma once

#include "shared/ticket.hpp"
#include "tracker/migrate.hpp"
#include "tracker/pg/conn.hpp"
#include "tracker/store.hpp"

#include <memory>
#include <string>

namespace gs::tracker {

// Whether `db` names a PostgreSQL database ("postgresql://..." or "postgres://...") rather than
// an SQLite file.
bool is_postgres_uri(std::string_view db);

// `uri` with any password in it (user:PASSWORD@ or password=) replaced by "***", for logs.
std::string redact_uri(std::string_view uri);

// The lease a tracker's heartbeat buys: its presence rows count this long after the last one.
inline constexpr std::chrono::seconds kTrackerLease{15};

class PgStore final : public Store {
public:
    // Connects to `uri` (a libpq URI, multi-host ones included) and brings the schema up to
    // date. `tracker_id` names this tracker process (random per process; every PgStore of the
    // process gets the same). Errors are for the operator; they never show the password.
    static Result<std::unique_ptr<PgStore>> open(
        const std::string& uri, const std::string& tracker_id,
        const std::vector<Migration>& migrations = embedded_pg_migrations());

    ~PgStore() override;

    // The set's ticket signing key: made once, by whichever tracker gets there first, and read
    // by every other (SECURITY.md).
    Result<TicketSigner> load_or_create_ticket_signer();

    Result<bool> create_user(std::string_view user_id, std::string_view password_hash,
                             TimePoint now) override;
    Result<bool> user_exists(std::string_view user_id) override;
    Result<std::optional<Credentials>> password_hash_of(std::string_view user_id) override;

    Status create_session(std::string_view token_hash, std::int64_t user_pk, TimePoint now,
                          TimePoint expires_at) override;
    Result<std::optional<User>> user_of_session(std::string_view token_hash,
                                                TimePoint now) override;
    Status delete_session(std::string_view token_hash) override;
    Status delete_expired_sessions(TimePoint now) override;
    Status renew_session(std::string_view token_hash, TimePoint expires_at) override;

    Result<bool> create_group(std::string_view group_id, std::int64_t owner_pk,
                              TimePoint now) override;
    Result<std::optional<Group>> find_group(std::string_view group_id) override;
    Result<bool> is_member(std::int64_t group_pk, std::int64_t user_pk) override;
    Result<std::vector<Member>> list_members(std::int64_t group_pk) override;
    Result<std::vector<GroupSummary>> list_groups(std::int64_t user_pk, std::string_view after,
                                                  std::size_t limit) override;
    Result<std::int64_t> count_groups_owned(std::int64_t user_pk) override;
    Result<std::int64_t> count_pending_requests(std::int64_t user_pk) override;
    Result<bool> has_join_request(std::int64_t group_pk, std::int64_t user_pk) override;
    Result<JoinOutcome> add_join_request(std::int64_t group_pk, std::int64_t user_pk,
                                         TimePoint now) override;
    Result<std::vector<JoinRequest>> list_requests(std::int64_t group_pk, std::int64_t after_seq,
                                                   std::size_t limit) override;
    Result<bool> accept_request(std::int64_t group_pk, std::string_view user_id,
                                TimePoint now) override;
    Result<bool> reject_request(std::int64_t group_pk, std::string_view user_id) override;
    Result<LeaveOutcome> leave_group(std::int64_t group_pk, std::int64_t user_pk) override;
    Result<bool> remove_member(std::int64_t group_pk, std::string_view user_id) override;

    Result<bool> add_file(std::int64_t group_pk, const NewFile& file, std::int64_t user_pk,
                          std::string_view listen_addr, TimePoint now) override;
    Result<bool> add_seeder(std::int64_t file_pk, std::int64_t user_pk,
                            std::string_view listen_addr, TimePoint now,
                            int max_addrs_per_user) override;
    Result<std::optional<FileRecord>> file_by_name(std::int64_t group_pk,
                                                   std::string_view name) override;
    Result<std::optional<FileRecord>> file_by_hash(std::int64_t group_pk,
                                                   std::string_view info_hash) override;
    Result<std::optional<std::int64_t>> file_pk_by_hash(std::int64_t group_pk,
                                                        std::string_view info_hash) override;
    Result<std::vector<FileListing>> list_files(std::int64_t group_pk, std::string_view after,
                                                std::size_t limit) override;
    Result<std::vector<Seeder>> seeders_of(std::int64_t file_pk) override;
    Result<int> remove_seeder(std::int64_t file_pk, std::int64_t user_pk) override;
    Result<int> remove_user_shares_in_group(std::int64_t group_pk, std::int64_t user_pk) override;
    Result<bool> remove_file(std::int64_t file_pk) override;
    Result<HashElsewhere> info_hash_elsewhere(std::int64_t group_pk, std::string_view info_hash,
                                              std::int64_t user_pk) override;
    Result<UploadCounts> uploads_by(std::int64_t user_pk, std::int64_t group_pk) override;
    Result<int> delete_sessions_of_user(std::int64_t user_pk) override;

    Status set_online(std::uint64_t conn, std::int64_t user_pk, std::string_view listen_addr,
                      std::string_view peer_key) override;
    Status set_offline(std::uint64_t conn) override;
    Status heartbeat(TimePoint now) override;
    Status release() override;

private:
    PgStore(pg::Conn conn, std::string tracker_id);

    // The call's result, or on failure the error a user may see (details logged).
    template <class T>
    Result<T> stored(std::string_view operation, Result<T> r);
    Error storage_error(std::string_view operation, const Error& cause);
    // Runs `work` in a transaction that commits when it succeeds, retrying a deadlock or
    // serialization failure; failures become storage_error(operation, ...).
    template <class Work>
    auto in_transaction(std::string_view operation, Work work) -> decltype(work());

    // Steps shared by several operations; they expect the caller's open transaction.
    Result<bool> lock_group(std::int64_t group_pk);
    Result<int> drop_user_seeders_in_group(std::int64_t group_pk, std::int64_t user_pk);

    pg::Conn conn_;
    std::string tracker_id_;
};

// Applies `migrations` above the database's version, each in its own transaction that records
// its number in schema_version, all under one advisory lock so that trackers starting at once
// apply each exactly once. Returns the version the database is at.
Result<int> migrate_pg(pg::Conn& conn, const std::vector<Migration>& migrations);

}  // namespace gs::tracker
