// SqliteStore: groups, memberships and join requests.
#include "tracker/sqlite/transaction.hpp"
#include "tracker/sqlite_store.hpp"
#include "tracker/sqlite_store_sql.hpp"

namespace gs::tracker {
namespace {

Group read_group(Statement& q) {
    return Group{q.column_int(0), q.column_text(1), q.column_int(2), q.column_text(3),
                 q.column_int(4)};
}

Member read_member(Statement& q) {
    return Member{q.column_text(0), q.column_text(1)};
}

GroupSummary read_group_summary(Statement& q) {
    return GroupSummary{q.column_text(0), q.column_text(1), q.column_int(2), q.column_int(3) != 0};
}

JoinRequest read_join_request(Statement& q) {
    return JoinRequest{q.column_text(0), q.column_text(1), q.column_int(2)};
}

}  // namespace

Result<bool> SqliteStore::create_group(std::string_view group_id, std::int64_t owner_pk,
                                       TimePoint now) {
    return in_transaction(db_, "create_group", [&]() -> Result<bool> {
        std::string when = utc_text(now);
        if (auto s = run_once(st_->insert_group, group_id, owner_pk, when); !s) {
            if (s.error().code == Errc::AlreadyExists) return false;
            return s.error();
        }
        std::int64_t group_pk = st_->insert_group.last_insert_rowid();
        if (auto s = run_once(st_->insert_membership, group_pk, owner_pk, when); !s) {
            return s.error();
        }
        return true;
    });
}

Result<std::optional<Group>> SqliteStore::find_group(std::string_view group_id) {
    return stored("find_group", first_row(st_->find_group, read_group, group_id));
}

Result<bool> SqliteStore::is_member(std::int64_t group_pk, std::int64_t user_pk) {
    return stored("is_member", has_row(st_->is_member, group_pk, user_pk));
}

Result<std::vector<Member>> SqliteStore::list_members(std::int64_t group_pk) {
    return stored("list_members", all_rows(st_->list_members, read_member, group_pk));
}

Result<std::vector<GroupSummary>> SqliteStore::list_groups(std::int64_t user_pk,
                                                           std::string_view after,
                                                           std::size_t limit) {
    return stored("list_groups", all_rows(st_->list_groups, read_group_summary, user_pk, after,
                                          static_cast<std::int64_t>(limit)));
}

Result<JoinOutcome> SqliteStore::add_join_request(std::int64_t group_pk, std::int64_t user_pk,
                                                  TimePoint now) {
    return in_transaction(db_, "add_join_request", [&]() -> Result<JoinOutcome> {
        auto member = has_row(st_->is_member, group_pk, user_pk);
        if (!member) return member.error();
        if (*member) return JoinOutcome::AlreadyMember;
        auto asked = has_row(st_->has_request, group_pk, user_pk);
        if (!asked) return asked.error();
        if (*asked) return JoinOutcome::AlreadyRequested;
        if (auto s = run_once(st_->insert_request, group_pk, user_pk, utc_text(now)); !s) {
            return s.error();
        }
        return JoinOutcome::Requested;
    });
}

Result<std::int64_t> SqliteStore::count_groups_owned(std::int64_t user_pk) {
    return stored("count_groups_owned", count_of(st_->count_groups_owned, user_pk));
}

Result<std::int64_t> SqliteStore::count_pending_requests(std::int64_t user_pk) {
    return stored("count_pending_requests", count_of(st_->count_pending_requests, user_pk));
}

Result<bool> SqliteStore::has_join_request(std::int64_t group_pk, std::int64_t user_pk) {
    return stored("has_join_request", has_row(st_->has_request, group_pk, user_pk));
}

Result<std::vector<JoinRequest>> SqliteStore::list_requests(std::int64_t group_pk,
                                                            std::int64_t after_seq,
                                                            std::size_t limit) {
    return stored("list_requests", all_rows(st_->list_requests, read_join_request, group_pk,
                                            after_seq, static_cast<std::int64_t>(limit)));
}

namespace {

struct PendingRequest {
    std::int64_t seq = 0;
    std::int64_t user_pk = 0;
};

Result<std::optional<PendingRequest>> find_request(Statement& q, std::int64_t group_pk,
                                                   std::string_view user_id) {
    return first_row(
        q,
        [](Statement& row) {
            return PendingRequest{row.column_int(0), row.column_int(1)};
        },
        group_pk, user_id);
}

// The longest-standing member: the lowest membership seq.
Result<std::optional<User>> earliest_member(Statement& q, std::int64_t group_pk) {
    return first_row(q, read_user, group_pk);
}

}  // namespace

Result<bool> SqliteStore::accept_request(std::int64_t group_pk, std::string_view user_id,
                                         TimePoint now) {
    return in_transaction(db_, "accept_request", [&]() -> Result<bool> {
        auto request = find_request(st_->find_request, group_pk, user_id);
        if (!request) return request.error();
        if (!*request) return false;
        if (auto s = run_once(st_->delete_request, (*request)->seq); !s) {
            return s.error();
        }
        if (auto s = run_once(st_->insert_membership, group_pk, (*request)->user_pk, utc_text(now));
            !s) {
            return s.error();
        }
        return true;
    });
}

Result<bool> SqliteStore::reject_request(std::int64_t group_pk, std::string_view user_id) {
    constexpr std::string_view kOp = "reject_request";
    auto request = find_request(st_->find_request, group_pk, user_id);
    if (!request) return storage_error(kOp, request.error());
    if (!*request) return false;
    if (auto s = run_once(st_->delete_request, (*request)->seq); !s) {
        return storage_error(kOp, s.error());
    }
    return true;
}

Result<LeaveOutcome> SqliteStore::leave_group(std::int64_t group_pk, std::int64_t user_pk) {
    return in_transaction(db_, "leave_group", [&]() -> Result<LeaveOutcome> {
        LeaveOutcome out;
        auto left = count_changes(st_->delete_membership, group_pk, user_pk);
        if (!left) return left.error();
        if (*left == 0) return out;  // not a member; the transaction rolls back (nothing changed)
        out.was_member = true;

        if (auto r = drop_user_seeders_in_group(group_pk, user_pk); !r) {
            return r.error();
        }

        auto successor = earliest_member(st_->earliest_member, group_pk);
        if (!successor) return successor.error();
        if (!*successor) {
            // Nobody is left: the group goes, and with it (ON DELETE CASCADE) its requests and
            // files.
            if (auto s = run_once(st_->delete_group, group_pk); !s) {
                return s.error();
            }
            out.group_deleted = true;
        } else {
            // Only an owner who leaves passes ownership on; otherwise the UPDATE matches nothing.
            auto passed = count_changes(st_->set_owner, group_pk, (*successor)->pk, user_pk);
            if (!passed) return passed.error();
            if (*passed > 0) out.new_owner = (*successor)->user_id;
            // Tickets issued before now are of an older epoch (shared/ticket.hpp).
            if (auto s = run_once(st_->bump_epoch, group_pk); !s) return s.error();
        }
        return out;
    });
}

Result<bool> SqliteStore::remove_member(std::int64_t group_pk, std::string_view user_id) {
    return in_transaction(db_, "remove_member", [&]() -> Result<bool> {
        auto user = first_row(st_->user_pk_of, read_int, user_id);
        if (!user) return user.error();
        if (!*user) return false;  // no such user: not a member either
        const std::int64_t user_pk = **user;
        auto removed = count_changes(st_->delete_membership, group_pk, user_pk);
        if (!removed) return removed.error();
        if (*removed == 0) return false;  // not a member; the transaction rolls back
        if (auto r = drop_user_seeders_in_group(group_pk, user_pk); !r) {
            return r.error();
        }
        if (auto s = run_once(st_->bump_epoch, group_pk); !s) return s.error();
        return true;
    });
}

}  // namespace gs::tracker
