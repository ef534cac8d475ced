// Store: the tracker's persistent state in domain words, and who is online. Handlers
// (tracker/handlers/) call it through the Dispatcher's StoreRunner: on the reactor thread
// (inline) or on a worker thread that owns this Store (one Store per thread, never shared).
// SqliteStore (one tracker, one file) and PgStore (tracker/pg/: several trackers sharing one
// PostgreSQL database) implement it. Every write is committed before the call returns.
//
// Errors: a failed read or write of the storage itself is Errc::Internal with a message safe to
// show (details go to the log). Expected outcomes ("already a member", "no such request") are
// part of the returned value, so the handlers can word them.
#pragma once

#include "shared/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gs::tracker {

using TimePoint = std::chrono::system_clock::time_point;

// "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds): how the database holds times (the schema's
// migrations included). Fixed width, so it sorts as text.
std::string utc_text(TimePoint t);

struct User {
    std::int64_t pk = 0;
    std::string user_id;
};

struct Credentials {
    std::int64_t user_pk = 0;
    std::string user_id;
    std::string password_hash;  // argon2id encoded string
};

struct Group {
    std::int64_t pk = 0;
    std::string group_id;
    std::int64_t owner_pk = 0;
    std::string owner_id;
    // The membership epoch: moves on whenever someone stops being a member (leave_group,
    // remove_member); every ticket carries it (shared/ticket.hpp).
    std::int64_t epoch = 0;
};

struct GroupSummary {
    std::string group_id;
    std::string owner_id;
    std::int64_t members = 0;
    bool is_member = false;  // whether the asking user is a member
};

struct Member {
    std::string user_id;
    std::string joined_at;  // "YYYY-MM-DDTHH:MM:SSZ"
};

struct JoinRequest {
    std::string user_id;
    std::string requested_at;  // "YYYY-MM-DDTHH:MM:SSZ"
    std::int64_t seq = 0;      // request order: the key list_requests pages by
};

enum class JoinOutcome { Requested, AlreadyMember, AlreadyRequested };

struct LeaveOutcome {
    bool was_member = false;               // false: nothing changed
    std::optional<std::string> new_owner;  // set when the owner left and others remain
    bool group_deleted = false;            // the last member left
};

// A file as uploaded: the checked info dictionary and what was read from it.
struct NewFile {
    std::string name;
    std::string info_hash;  // 40 lower-case hex digits
    std::string info;       // bencoded info dictionary, exactly as received
    std::int64_t length = 0;
    std::int64_t piece_length = 0;
};

struct FileRecord {
    std::int64_t pk = 0;
    std::string name;
    std::string info_hash;
    std::string info;
    std::int64_t length = 0;
    std::int64_t piece_length = 0;
    std::string uploaded_by;
    std::string created_at;
};

struct Seeder {
    std::string user_id;
    std::string listen_addr;  // "IP:PORT"
    // A live connection of that user with that listen address exists (filled by seeders_of
    // and list_files from the Store's presence).
    bool online = false;
    // The sealed channel's public key (64 hex) its client gave at login, while online; filled
    // by seeders_of only. "" if none.
    std::string peer_key;
    bool operator==(const Seeder&) const = default;
};

// What the tracker knows of an info hash outside one group (upload_file's possession check).
struct HashElsewhere {
    bool shared = false;          // some other group has a file with this info hash
    bool seeded_by_user = false;  // the user seeds it in at least one of those groups
};

// How many of the files that exist now a user uploaded first (Files::uploaded_by).
struct UploadCounts {
    std::int64_t in_group = 0;
    std::int64_t total = 0;  // in every group
};

struct FileListing {
    std::string name;
    std::int64_t length = 0;
    std::string info_hash;
    std::vector<Seeder> seeders;
};

class Store {
public:
    virtual ~Store() = default;

    // Accounts. create_user gives false when the user id is taken.
    virtual Result<bool> create_user(std::string_view user_id, std::string_view password_hash,
                                     TimePoint now) = 0;
    virtual Result<bool> user_exists(std::string_view user_id) = 0;
    virtual Result<std::optional<Credentials>> password_hash_of(std::string_view user_id) = 0;

    // Sessions, keyed by a hash of the token (never the token).
    virtual Status create_session(std::string_view token_hash, std::int64_t user_pk, TimePoint now,
                                  TimePoint expires_at) = 0;
    // The session's user, unless the session is unknown or expired at `now`.
    virtual Result<std::optional<User>> user_of_session(std::string_view token_hash,
                                                        TimePoint now) = 0;
    // A session in use lives on: its expiry moves to `expires_at`.
    virtual Status renew_session(std::string_view token_hash, TimePoint expires_at) = 0;
    virtual Status delete_session(std::string_view token_hash) = 0;
    virtual Status delete_expired_sessions(TimePoint now) = 0;

    // Groups. create_group makes `owner_pk` the owner and first member; false when the id is
    // taken.
    virtual Result<bool> create_group(std::string_view group_id, std::int64_t owner_pk,
                                      TimePoint now) = 0;
    virtual Result<std::optional<Group>> find_group(std::string_view group_id) = 0;
    virtual Result<bool> is_member(std::int64_t group_pk, std::int64_t user_pk) = 0;
    // Members in join order (the owner hand-over order).
    virtual Result<std::vector<Member>> list_members(std::int64_t group_pk) = 0;
    // Groups by id, with whether `user_pk` is a member: at most `limit`, those whose id sorts
    // after `after` (empty: from the first). Listings page by key, so no reply grows with the
    // whole table (docs/protocol.md §1.3, paging).
    virtual Result<std::vector<GroupSummary>> list_groups(std::int64_t user_pk,
                                                          std::string_view after,
                                                          std::size_t limit) = 0;
    // How many groups `user_pk` owns, and how many join requests it has pending (quotas).
    virtual Result<std::int64_t> count_groups_owned(std::int64_t user_pk) = 0;
    virtual Result<std::int64_t> count_pending_requests(std::int64_t user_pk) = 0;
    // Whether `user_pk` has a pending request to join the group.
    virtual Result<bool> has_join_request(std::int64_t group_pk, std::int64_t user_pk) = 0;

    // Join requests: pending until the owner accepts (membership) or rejects (gone).
    virtual Result<JoinOutcome> add_join_request(std::int64_t group_pk, std::int64_t user_pk,
                                                 TimePoint now) = 0;
    // Oldest first: at most `limit`, those after request `after_seq` (0: from the first).
    virtual Result<std::vector<JoinRequest>> list_requests(std::int64_t group_pk,
                                                           std::int64_t after_seq,
                                                           std::size_t limit) = 0;
    // False when `user_id` has no pending request for the group.
    virtual Result<bool> accept_request(std::int64_t group_pk, std::string_view user_id,
                                        TimePoint now) = 0;
    virtual Result<bool> reject_request(std::int64_t group_pk, std::string_view user_id) = 0;

    // Removes the membership and the user's seeders in the group (files left without seeders
    // go). If the owner left, the longest-standing member becomes owner; if nobody is left, the
    // group goes with its requests and files.
    // Moves the group's membership epoch on, in the same transaction.
    virtual Result<LeaveOutcome> leave_group(std::int64_t group_pk, std::int64_t user_pk) = 0;
    // An owner removes `user_id`: the membership and the user's seeders in the group go (files
    // left without seeders go too) and the membership epoch moves on, in one transaction.
    // False when `user_id` is not a member. The owner is never removed this way (leave_group).
    virtual Result<bool> remove_member(std::int64_t group_pk, std::string_view user_id) = 0;

    // Files. add_file stores a new file with `user_pk` at `listen_addr` as its first seeder;
    // false when the group already has a file with that name or info hash.
    virtual Result<bool> add_file(std::int64_t group_pk, const NewFile& file, std::int64_t user_pk,
                                  std::string_view listen_addr, TimePoint now) = 0;
    // True when the (user, address) pair was not a seeder yet; adding twice changes nothing.
    // A user keeps at most `max_addrs_per_user` addresses for one file: a new one past that
    // replaces the user's oldest row for the file (a client that came back on another port).
    virtual Result<bool> add_seeder(std::int64_t file_pk, std::int64_t user_pk,
                                    std::string_view listen_addr, TimePoint now,
                                    int max_addrs_per_user) = 0;
    virtual Result<std::optional<FileRecord>> file_by_name(std::int64_t group_pk,
                                                           std::string_view name) = 0;
    // Only the file's key: cheap, for requests that do not need the info dictionary.
    virtual Result<std::optional<std::int64_t>> file_pk_by_hash(std::int64_t group_pk,
                                                                std::string_view info_hash) = 0;
    virtual Result<std::optional<FileRecord>> file_by_hash(std::int64_t group_pk,
                                                           std::string_view info_hash) = 0;
    // By name (byte order), each with its seeders in the order they started: at most `limit`
    // files, those whose name sorts after `after` (empty: from the first).
    virtual Result<std::vector<FileListing>> list_files(std::int64_t group_pk,
                                                        std::string_view after,
                                                        std::size_t limit) = 0;
    virtual Result<std::vector<Seeder>> seeders_of(std::int64_t file_pk) = 0;
    // Removes every seeder row of `user_pk` for the file (all its addresses) and deletes the
    // file when no seeder is left. Returns how many rows went; 0 means the user was not seeding.
    virtual Result<int> remove_seeder(std::int64_t file_pk, std::int64_t user_pk) = 0;
    // Deletes the file with every seeder row of it (the owner's remove_file). False when it was
    // already gone.
    virtual Result<bool> remove_file(std::int64_t file_pk) = 0;
    // Whether a group other than `group_pk` has a file with `info_hash`, and whether `user_pk`
    // seeds it in one of them.
    virtual Result<HashElsewhere> info_hash_elsewhere(std::int64_t group_pk,
                                                      std::string_view info_hash,
                                                      std::int64_t user_pk) = 0;
    // The files `user_pk` uploaded first that still exist: in `group_pk`, and in all groups.
    virtual Result<UploadCounts> uploads_by(std::int64_t user_pk, std::int64_t group_pk) = 0;
    // The same for every file of the group; used when a member leaves.
    virtual Result<int> remove_user_shares_in_group(std::int64_t group_pk,
                                                    std::int64_t user_pk) = 0;

    // Ends every session of the user (logout --everywhere); returns how many there were.
    virtual Result<int> delete_sessions_of_user(std::int64_t user_pk) = 0;

    // Presence: who is connected and logged in right now. `conn` names one connection of this
    // tracker process. SqliteStore keeps it in memory (one tracker per database); PgStore keeps
    // it in the database under this tracker's lease, so every tracker of the set sees it.
    // `peer_key`: the client's sealed-channel public key, handed on by seeders_of.
    virtual Status set_online(std::uint64_t conn, std::int64_t user_pk,
                              std::string_view listen_addr, std::string_view peer_key) = 0;
    virtual Status set_offline(std::uint64_t conn) = 0;
    // Renews this tracker's lease (PgStore, on the database's clock); SqliteStore does nothing.
    // Called every few seconds.
    virtual Status heartbeat(TimePoint now) = 0;
    // The tracker stops cleanly: its lease and every presence row under it go now, so that its
    // users stop counting as online at once rather than when the lease runs out (PgStore).
    // Called once, when no other call runs; SqliteStore's presence goes with the process.
    virtual Status release() { return {}; }
};

}  // namespace gs::tracker
