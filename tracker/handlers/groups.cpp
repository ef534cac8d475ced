// Groups: create, join (a pending request the owner decides), leave (with owner hand-over),
// list. docs/protocol.md §1.3.
#include "tracker/handlers/args.hpp"
#include "tracker/handlers/handlers.hpp"

#include <fmt/format.h>

namespace gs::tracker {
namespace {

// The group named by the "group" argument, checked to exist.
Result<Group> group_arg(const Context& ctx, const proto::Value& request) {
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    return require_group(ctx.store, *group_id);
}

Status require_owner(const Group& group, const Session& session, std::string_view action) {
    if (group.owner_pk == session.user_pk) return {};
    return make_error(Errc::Denied,
                      fmt::format("only the owner of group '{}' can {}", group.group_id, action));
}

// accept_request and reject_request differ only in the verb and the store call.
Reply decide_request(const Context& ctx, const proto::Value& request, bool accept) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    auto user_id = require_id(request, "user", "user id");
    if (!user_id) return user_id.error();
    auto group = require_group(ctx.store, *group_id);
    if (!group) return group.error();
    if (auto s = require_owner(*group, **session, accept ? "accept requests" : "reject requests");
        !s) {
        return s.error();
    }
    auto done = accept ? ctx.store.accept_request(group->pk, *user_id, ctx.now)
                       : ctx.store.reject_request(group->pk, *user_id);
    if (!done) return done.error();
    if (!*done) {
        return make_error(Errc::NotFound, fmt::format("'{}' has not asked to join group '{}'",
                                                      *user_id, group->group_id));
    }
    return proto::Dict{};
}

}  // namespace

Reply handle_create_group(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    auto created = ctx.store.create_group(*group_id, (*session)->user_pk, ctx.now);
    if (!created) return created.error();
    if (!*created) {
        return make_error(Errc::AlreadyExists, fmt::format("group '{}' already exists", *group_id));
    }
    return proto::Dict{};
}

Reply handle_join_group(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group = group_arg(ctx, request);
    if (!group) return group.error();
    auto outcome = ctx.store.add_join_request(group->pk, (*session)->user_pk, ctx.now);
    if (!outcome) return outcome.error();
    switch (*outcome) {
        case JoinOutcome::Requested:
            return proto::Dict{};
        case JoinOutcome::AlreadyMember:
            return make_error(Errc::AlreadyExists, fmt::format("you are already a member of "
                                                               "group '{}'",
                                                               group->group_id));
        case JoinOutcome::AlreadyRequested:
            return make_error(Errc::AlreadyExists,
                              fmt::format("you already asked to join group '{}'; the owner has "
                                          "not answered yet",
                                          group->group_id));
    }
    return make_error(Errc::Internal, "unexpected join outcome");
}

Reply handle_leave_group(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group = group_arg(ctx, request);
    if (!group) return group.error();
    auto outcome = ctx.store.leave_group(group->pk, (*session)->user_pk);
    if (!outcome) return outcome.error();
    if (!outcome->was_member) return not_member_error(group->group_id);
    proto::Dict reply;
    if (outcome->new_owner) reply["new_owner"] = *outcome->new_owner;
    if (outcome->group_deleted) reply["deleted"] = 1;
    return reply;
}

Reply handle_list_requests(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group = group_arg(ctx, request);
    if (!group) return group.error();
    if (auto s = require_owner(*group, **session, "see its join requests"); !s) return s.error();
    auto requests = ctx.store.list_requests(group->pk);
    if (!requests) return requests.error();
    proto::List list;
    for (auto& r : *requests) {
        list.push_back(proto::Dict{{"user", std::move(r.user_id)},
                                   {"requested_at", std::move(r.requested_at)}});
    }
    return proto::Dict{{"requests", std::move(list)}};
}

Reply handle_accept_request(const Context& ctx, const proto::Value& request) {
    return decide_request(ctx, request, true);
}

Reply handle_reject_request(const Context& ctx, const proto::Value& request) {
    return decide_request(ctx, request, false);
}

Reply handle_list_groups(const Context& ctx, const proto::Value& /*request*/) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto groups = ctx.store.list_groups((*session)->user_pk);
    if (!groups) return groups.error();
    proto::List list;
    for (auto& g : *groups) {
        list.push_back(proto::Dict{{"group", std::move(g.group_id)},
                                   {"owner", std::move(g.owner_id)},
                                   {"members", g.members},
                                   {"member", g.is_member ? 1 : 0}});
    }
    return proto::Dict{{"groups", std::move(list)}};
}

}  // namespace gs::tracker
