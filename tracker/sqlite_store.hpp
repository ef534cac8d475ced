// SqliteStore: Store on one SQLite database file. Opening migrates the schema and prepares
// every statement once; each call binds its parameters, runs, and resets. Multi-step changes run
// in one Transaction, committed before the call returns. One thread at a time (the reactor's, or
// the one StoreRunner worker that owns it); presence lives in a PresenceTable that several
// stores of one tracker may share.
#pragma once

#include "tracker/migrate.hpp"
#include "tracker/presence_table.hpp"
#include "tracker/sqlite/db.hpp"
#include "tracker/sqlite/statement.hpp"
#include "tracker/store.hpp"

#include <memory>
#include <string>

namespace gs::tracker {

class SqliteStore final : public Store {
public:
    // Opens or creates the database at `path` and brings its schema up to date. Errors (cannot
    // open, a migration failed) are for the operator and name the file.
    static Result<std::unique_ptr<SqliteStore>> open(
        const std::string& path, const std::vector<Migration>& migrations = embedded_migrations());
    // The same for start-up code: throws std::runtime_error with that message
    // (docs/ARCHITECTURE.md, habit 4).
    explicit SqliteStore(const std::string& path,
                         const std::vector<Migration>& migrations = embedded_migrations());

    ~SqliteStore() override;

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

    // Presence is this store's alone until it shares another's (the stores of one tracker's
    // StoreRunner pool, opened on one database file, share one table).
    const std::shared_ptr<PresenceTable>& presence() const { return presence_; }
    void share_presence(std::shared_ptr<PresenceTable> presence) {
        presence_ = std::move(presence);
    }

    struct Statements;  // tracker/sqlite_store_sql.hpp

private:
    struct Parts;
    static Result<Parts> open_parts(const std::string& path,
                                    const std::vector<Migration>& migrations);
    explicit SqliteStore(Parts parts);

    // Steps shared by several operations; they expect the caller's open transaction.
    Result<int> drop_user_seeders_in_group(std::int64_t group_pk, std::int64_t user_pk);

    Db db_;
    std::unique_ptr<Statements> st_;  // declared after db_: finalized before it closes
    std::shared_ptr<PresenceTable> presence_ = std::make_shared<PresenceTable>();
};

}  // namespace gs::tracker
