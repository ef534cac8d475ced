// PgStore: groups, memberships and join requests. Every change to who is in a group locks the
// group's row first, so two trackers changing one group take turns.
#include "tracker/pg/pg_store.hpp"
#include "tracker/pg/pg_store_tx.hpp"

namespace gs::tracker {
Result<bool> PgStore::lock_group(std::int64_t group_pk) {
    auto rows = conn_.query("SELECT 1 FROM groups WHERE pk = $1 FOR UPDATE", group_pk);
    if (!rows) return rows.error();
    return !rows->empty();
}

Result<bool> PgStore::create_group(std::string_view group_id, std::int64_t owner_pk,
                                   TimePoint now) {
    return in_transaction("create_group", [&]() -> Result<bool> {
        std::string when = utc_text(now);
        auto made = conn_.query(
            "INSERT INTO groups (group_id, owner_pk, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (group_id) DO NOTHING RETURNING pk",
            group_id, owner_pk, when);
        if (!made) return made.error();
        if (made->empty()) return false;
        if (auto s = pg::done(conn_.query(
                "INSERT INTO memberships (group_pk, user_pk, joined_at) VALUES ($1, $2, $3)",
                made->integer(0, 0), owner_pk, when));
            !s) {
            return s.error();
        }
        return true;
    });
}

Result<std::optional<Group>> PgStore::find_group(std::string_view group_id) {
    auto rows = conn_.query(
        "SELECT g.pk, g.group_id, g.owner_pk, u.user_id, g.member_epoch FROM groups g"
        " JOIN users u ON u.pk = g.owner_pk WHERE g.group_id = $1",
        group_id);
    if (!rows) return storage_error("find_group", rows.error());
    if (rows->empty()) return std::optional<Group>();
    return std::optional<Group>(Group{rows->integer(0, 0), rows->text(0, 1), rows->integer(0, 2),
                                      rows->text(0, 3), rows->integer(0, 4)});
}

Result<bool> PgStore::is_member(std::int64_t group_pk, std::int64_t user_pk) {
    auto rows = conn_.query("SELECT 1 FROM memberships WHERE group_pk = $1 AND user_pk = $2",
                            group_pk, user_pk);
    if (!rows) return storage_error("is_member", rows.error());
    return !rows->empty();
}

Result<std::vector<Member>> PgStore::list_members(std::int64_t group_pk) {
    auto rows = conn_.query(
        "SELECT u.user_id, m.joined_at FROM memberships m JOIN users u ON u.pk = m.user_pk"
        " WHERE m.group_pk = $1 ORDER BY m.seq",
        group_pk);
    if (!rows) return storage_error("list_members", rows.error());
    std::vector<Member> out;
    for (int i = 0; i < rows->size(); ++i)
        out.push_back(Member{rows->text(i, 0), rows->text(i, 1)});
    return out;
}

Result<std::vector<GroupSummary>> PgStore::list_groups(std::int64_t user_pk, std::string_view after,
                                                       std::size_t limit) {
    auto rows = conn_.query(
        "SELECT g.group_id, o.user_id,"
        " (SELECT count(*) FROM memberships m WHERE m.group_pk = g.pk),"
        " EXISTS (SELECT 1 FROM memberships m WHERE m.group_pk = g.pk AND m.user_pk = $1)"
        " FROM groups g JOIN users o ON o.pk = g.owner_pk WHERE g.group_id > $2"
        " ORDER BY g.group_id LIMIT $3",
        user_pk, after, static_cast<std::int64_t>(limit));
    if (!rows) return storage_error("list_groups", rows.error());
    std::vector<GroupSummary> out;
    for (int i = 0; i < rows->size(); ++i) {
        out.push_back(GroupSummary{rows->text(i, 0), rows->text(i, 1), rows->integer(i, 2),
                                   rows->boolean(i, 3)});
    }
    return out;
}

Result<std::int64_t> PgStore::count_groups_owned(std::int64_t user_pk) {
    auto rows = conn_.query("SELECT count(*) FROM groups WHERE owner_pk = $1", user_pk);
    if (!rows) return storage_error("count_groups_owned", rows.error());
    return rows->integer(0, 0);
}

Result<std::int64_t> PgStore::count_pending_requests(std::int64_t user_pk) {
    auto rows = conn_.query("SELECT count(*) FROM join_requests WHERE user_pk = $1", user_pk);
    if (!rows) return storage_error("count_pending_requests", rows.error());
    return rows->integer(0, 0);
}

Result<bool> PgStore::has_join_request(std::int64_t group_pk, std::int64_t user_pk) {
    auto rows = conn_.query("SELECT 1 FROM join_requests WHERE group_pk = $1 AND user_pk = $2",
                            group_pk, user_pk);
    if (!rows) return storage_error("has_join_request", rows.error());
    return !rows->empty();
}

Result<JoinOutcome> PgStore::add_join_request(std::int64_t group_pk, std::int64_t user_pk,
                                              TimePoint now) {
    return in_transaction("add_join_request", [&]() -> Result<JoinOutcome> {
        auto member = conn_.query("SELECT 1 FROM memberships WHERE group_pk = $1 AND user_pk = $2",
                                  group_pk, user_pk);
        if (!member) return member.error();
        if (!member->empty()) return JoinOutcome::AlreadyMember;
        auto added = conn_.query(
            "INSERT INTO join_requests (group_pk, user_pk, requested_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (group_pk, user_pk) DO NOTHING",
            group_pk, user_pk, utc_text(now));
        if (!added) return added.error();
        return added->affected() == 1 ? JoinOutcome::Requested : JoinOutcome::AlreadyRequested;
    });
}

Result<std::vector<JoinRequest>> PgStore::list_requests(std::int64_t group_pk,
                                                        std::int64_t after_seq, std::size_t limit) {
    auto rows = conn_.query(
        "SELECT u.user_id, r.requested_at, r.seq FROM join_requests r"
        " JOIN users u ON u.pk = r.user_pk WHERE r.group_pk = $1 AND r.seq > $2"
        " ORDER BY r.seq LIMIT $3",
        group_pk, after_seq, static_cast<std::int64_t>(limit));
    if (!rows) return storage_error("list_requests", rows.error());
    std::vector<JoinRequest> out;
    for (int i = 0; i < rows->size(); ++i) {
        out.push_back(JoinRequest{rows->text(i, 0), rows->text(i, 1), rows->integer(i, 2)});
    }
    return out;
}

namespace {

// Deletes the user's pending request for the group; gives the user's pk, or nothing when there
// was no request (also when another tracker decided it first).
constexpr std::string_view kTakeRequest =
    "DELETE FROM join_requests r USING users u"
    " WHERE r.group_pk = $1 AND r.user_pk = u.pk AND u.user_id = $2 RETURNING r.user_pk";

}  // namespace

Result<bool> PgStore::accept_request(std::int64_t group_pk, std::string_view user_id,
                                     TimePoint now) {
    return in_transaction("accept_request", [&]() -> Result<bool> {
        auto locked = lock_group(group_pk);
        if (!locked) return locked.error();
        if (!*locked) return false;
        auto taken = conn_.query(kTakeRequest, group_pk, user_id);
        if (!taken) return taken.error();
        if (taken->empty()) return false;
        if (auto s = pg::done(conn_.query(
                "INSERT INTO memberships (group_pk, user_pk, joined_at) VALUES ($1, $2, $3)",
                group_pk, taken->integer(0, 0), utc_text(now)));
            !s) {
            return s.error();
        }
        return true;
    });
}

Result<bool> PgStore::reject_request(std::int64_t group_pk, std::string_view user_id) {
    auto taken = conn_.query(kTakeRequest, group_pk, user_id);
    if (!taken) return storage_error("reject_request", taken.error());
    return !taken->empty();
}

Result<LeaveOutcome> PgStore::leave_group(std::int64_t group_pk, std::int64_t user_pk) {
    return in_transaction("leave_group", [&]() -> Result<LeaveOutcome> {
        LeaveOutcome out;
        auto locked = lock_group(group_pk);
        if (!locked) return locked.error();
        if (!*locked) return out;
        auto left = conn_.query("DELETE FROM memberships WHERE group_pk = $1 AND user_pk = $2",
                                group_pk, user_pk);
        if (!left) return left.error();
        if (left->affected() == 0) return out;  // not a member: nothing changed
        out.was_member = true;

        if (auto r = drop_user_seeders_in_group(group_pk, user_pk); !r) return r.error();

        // The longest-standing member: the lowest membership seq.
        auto successor = conn_.query(
            "SELECT m.user_pk, u.user_id FROM memberships m JOIN users u ON u.pk = m.user_pk"
            " WHERE m.group_pk = $1 ORDER BY m.seq LIMIT 1",
            group_pk);
        if (!successor) return successor.error();
        if (successor->empty()) {
            // Nobody is left: the group goes, and with it (ON DELETE CASCADE) its requests and
            // files.
            if (auto s = pg::done(conn_.query("DELETE FROM groups WHERE pk = $1", group_pk)); !s) {
                return s.error();
            }
            out.group_deleted = true;
            return out;
        }
        // Only an owner who leaves passes ownership on; otherwise the UPDATE matches nothing.
        auto passed = conn_.query("UPDATE groups SET owner_pk = $2 WHERE pk = $1 AND owner_pk = $3",
                                  group_pk, successor->integer(0, 0), user_pk);
        if (!passed) return passed.error();
        if (passed->affected() > 0) out.new_owner = successor->text(0, 1);
        // Tickets issued before now are of an older epoch (shared/ticket.hpp).
        if (auto s = pg::done(conn_.query(
                "UPDATE groups SET member_epoch = member_epoch + 1 WHERE pk = $1", group_pk));
            !s) {
            return s.error();
        }
        return out;
    });
}

Result<bool> PgStore::remove_member(std::int64_t group_pk, std::string_view user_id) {
    return in_transaction("remove_member", [&]() -> Result<bool> {
        auto locked = lock_group(group_pk);
        if (!locked) return locked.error();
        if (!*locked) return false;
        auto removed = conn_.query(
            "DELETE FROM memberships m USING users u"
            " WHERE m.group_pk = $1 AND m.user_pk = u.pk AND u.user_id = $2 RETURNING m.user_pk",
            group_pk, user_id);
        if (!removed) return removed.error();
        if (removed->empty()) return false;  // no such user, or not a member
        if (auto r = drop_user_seeders_in_group(group_pk, removed->integer(0, 0)); !r) {
            return r.error();
        }
        if (auto s = pg::done(conn_.query(
                "UPDATE groups SET member_epoch = member_epoch + 1 WHERE pk = $1", group_pk));
            !s) {
            return s.error();
        }
        return true;
    });
}

}  // namespace gs::tracker
