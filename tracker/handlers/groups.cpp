// Groups: create, join (a pending request the owner decides), leave (with owner hand-over),
// remove a member, list. docs/protocol.md §1.3.
#include "tracker/handlers/args.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/handlers/paging.hpp"

#include <charconv>

#include <fmt/format.h>

namespace gs::tracker {
namespace {

Status require_owner(const Group& group, const Session& session, std::string_view action) {
    if (group.owner_pk == session.user_pk) return {};
    return make_error(Errc::Denied,
                      fmt::format("only the owner of group '{}' can {}", group.group_id, action));
}

// What an owner's request about one user of a group (accept, reject, remove) is about.
struct OwnerAction {
    const Session* session;
    Group group;
    std::string user_id;
};

// The caller's session, the "group" and "user" arguments, the group checked to exist and to be
// owned by the caller, in that order (so each failure is the same whatever the action); the
// denial names `action`.
Result<OwnerAction> owner_action(const Context& ctx, const proto::Value& request,
                                 std::string_view action) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    auto user_id = require_id(request, "user", "user id");
    if (!user_id) return user_id.error();
    auto group = require_group(ctx.store, *group_id);
    if (!group) return group.error();
    if (auto s = require_owner(*group, **session, action); !s) return s.error();
    return OwnerAction{*session, std::move(*group), std::move(*user_id)};
}

// accept_request and reject_request differ only in the verb and the store call.
Reply decide_request(const Context& ctx, const proto::Value& request, bool accept) {
    auto act = owner_action(ctx, request, accept ? "accept requests" : "reject requests");
    if (!act) return act.error();
    auto done = accept ? ctx.store.accept_request(act->group.pk, act->user_id, ctx.now)
                       : ctx.store.reject_request(act->group.pk, act->user_id);
    if (!done) return done.error();
    if (!*done) {
        return make_error(Errc::NotFound, fmt::format("'{}' has not asked to join group '{}'",
                                                      act->user_id, act->group.group_id));
    }
    return proto::Dict{};
}

}  // namespace

Reply handle_create_group(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    auto owned = ctx.store.count_groups_owned((*session)->user_pk);
    if (!owned) return owned.error();
    if (*owned >= ctx.limits.groups_owned) {
        return make_error(Errc::Limit,
                          fmt::format("you already own {} groups, the most one account may own "
                                      "(groups quota); leave one you own first",
                                      ctx.limits.groups_owned));
    }
    auto created = ctx.store.create_group(*group_id, (*session)->user_pk, ctx.now);
    if (!created) return created.error();
    if (!*created) {
        return make_error(Errc::AlreadyExists, fmt::format("group '{}' already exists", *group_id));
    }
    return proto::Dict{};
}

Reply handle_join_group(const Context& ctx, const proto::Value& request) {
    auto call = group_call(ctx, request);
    if (!call) return call.error();
    const Session& me = *call->session;
    const Group& group = call->group;
    // A member or a repeated request is answered as before; only a new request counts.
    auto member = ctx.store.is_member(group.pk, me.user_pk);
    if (!member) return member.error();
    auto asked = ctx.store.has_join_request(group.pk, me.user_pk);
    if (!asked) return asked.error();
    if (!*member && !*asked) {
        auto pending = ctx.store.count_pending_requests(me.user_pk);
        if (!pending) return pending.error();
        if (*pending >= ctx.limits.pending_requests) {
            return make_error(Errc::Limit,
                              fmt::format("you already have {} join requests waiting, the most "
                                          "one account may have (pending requests quota); wait "
                                          "until owners answer some",
                                          ctx.limits.pending_requests));
        }
    }
    auto outcome = ctx.store.add_join_request(group.pk, me.user_pk, ctx.now);
    if (!outcome) return outcome.error();
    switch (*outcome) {
        case JoinOutcome::Requested: return proto::Dict{};
        case JoinOutcome::AlreadyMember:
            return make_error(Errc::AlreadyExists, fmt::format("you are already a member of "
                                                               "group '{}'",
                                                               group.group_id));
        case JoinOutcome::AlreadyRequested:
            return make_error(Errc::AlreadyExists,
                              fmt::format("you already asked to join group '{}'; the owner has "
                                          "not answered yet",
                                          group.group_id));
    }
    return make_error(Errc::Internal, "unexpected join outcome");
}

Reply handle_leave_group(const Context& ctx, const proto::Value& request) {
    auto call = group_call(ctx, request);
    if (!call) return call.error();
    auto outcome = ctx.store.leave_group(call->group.pk, call->session->user_pk);
    if (!outcome) return outcome.error();
    if (!outcome->was_member) return not_member_error(call->group.group_id);
    proto::Dict reply;
    if (outcome->new_owner) reply["new_owner"] = *outcome->new_owner;
    if (outcome->group_deleted) reply["deleted"] = 1;
    return reply;
}

Reply handle_list_requests(const Context& ctx, const proto::Value& request) {
    auto call = group_call(ctx, request);
    if (!call) return call.error();
    const Session& me = *call->session;
    const Group& group = call->group;
    if (auto s = require_owner(group, me, "see its join requests"); !s) return s.error();
    auto after = cursor_arg(request);
    if (!after) return after.error();
    // The key is the request's sequence number, as decimal text.
    std::int64_t after_seq = 0;
    if (!after->empty()) {
        auto [end, ec] = std::from_chars(after->data(), after->data() + after->size(), after_seq);
        if (ec != std::errc() || end != after->data() + after->size() || after_seq < 0) {
            return make_error(Errc::BadInput,
                              "invalid cursor 'after': use the 'next' of the "
                              "previous page");
        }
    }
    Page page(ctx.limits);
    auto requests = ctx.store.list_requests(group.pk, after_seq, page.rows_to_fetch());
    if (!requests) return requests.error();
    for (auto& r : *requests) {
        if (!page.add(proto::Dict{{"user", std::move(r.user_id)},
                                  {"requested_at", std::move(r.requested_at)}},
                      std::to_string(r.seq))) {
            break;
        }
    }
    return page.finish("requests", requests->size());
}

Reply handle_remove_member(const Context& ctx, const proto::Value& request) {
    auto act = owner_action(ctx, request, "remove members");
    if (!act) return act.error();
    if (act->user_id == act->session->user_id) {
        return make_error(Errc::BadInput,
                          fmt::format("you own group '{}'; use leave_group {} to leave it",
                                      act->group.group_id, act->group.group_id));
    }
    auto removed = ctx.store.remove_member(act->group.pk, act->user_id);
    if (!removed) return removed.error();
    if (!*removed) {
        return make_error(Errc::NotFound, fmt::format("'{}' is not a member of group '{}'",
                                                      act->user_id, act->group.group_id));
    }
    return proto::Dict{};
}

Reply handle_accept_request(const Context& ctx, const proto::Value& request) {
    return decide_request(ctx, request, true);
}

Reply handle_reject_request(const Context& ctx, const proto::Value& request) {
    return decide_request(ctx, request, false);
}

// A member sees each group's owner and member count; anyone else only its id, enough to ask to
// join (SECURITY.md, "What is protected").
Reply handle_list_groups(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto after = cursor_arg(request);
    if (!after) return after.error();
    Page page(ctx.limits);
    auto groups = ctx.store.list_groups((*session)->user_pk, *after, page.rows_to_fetch());
    if (!groups) return groups.error();
    for (auto& g : *groups) {
        proto::Dict item{{"group", g.group_id}, {"member", g.is_member ? 1 : 0}};
        if (g.is_member) {
            item["owner"] = std::move(g.owner_id);
            item["members"] = g.members;
        }
        if (!page.add(std::move(item), std::move(g.group_id))) break;
    }
    return page.finish("groups", groups->size());
}

}  // namespace gs::tracker
