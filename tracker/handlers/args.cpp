#include "tracker/handlers/args.hpp"

#include "shared/ids.hpp"
#include "tracker/handlers/handlers.hpp"

#include <fmt/format.h>

namespace gs::tracker {

Result<const Session*> require_session(const Context& ctx) {
    if (ctx.session == nullptr) {
        return make_error(Errc::NotLoggedIn, std::string(kNotLoggedInMessage));
    }
    return ctx.session;
}

Error invalid_id_error(std::string_view what, std::string_view value) {
    return make_error(Errc::BadInput,
                      fmt::format("invalid {} '{}': use 1-64 letters, digits, '.', '_' or '-'",
                                  what, printable(value)));
}

Result<std::string> require_bytes(const proto::Value& request, std::string_view key,
                                  std::string_view what) {
    auto value = request.get_string(key);
    if (!value) return make_error(Errc::BadInput, fmt::format("missing {}", what));
    return std::string(*value);
}

Result<std::string> require_id(const proto::Value& request, std::string_view key,
                               std::string_view what) {
    auto value = require_bytes(request, key, what);
    if (!value) return value;
    if (!is_valid_id(*value)) return invalid_id_error(what, *value);
    return value;
}

Result<std::string> require_file_name(const proto::Value& request, std::string_view key) {
    auto value = require_bytes(request, key, "file name");
    if (!value) return value;
    if (!is_valid_file_name(*value)) {
        return make_error(Errc::BadInput, invalid_file_name_message(*value));
    }
    return value;
}

Result<Group> require_group(Store& store, std::string_view group_id) {
    auto group = store.find_group(group_id);
    if (!group) return group.error();
    if (!*group) {
        return make_error(Errc::NotFound, fmt::format("group '{}' does not exist", group_id));
    }
    return std::move(**group);
}

Error not_member_error(std::string_view group_id) {
    return make_error(Errc::Denied, fmt::format("you are not a member of group '{}'", group_id));
}

Status require_member(Store& store, const Group& group, std::int64_t user_pk) {
    auto member = store.is_member(group.pk, user_pk);
    if (!member) return member.error();
    if (!*member) return not_member_error(group.group_id);
    return {};
}

Result<GroupCall> group_call(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    auto group_id = require_id(request, "group", "group id");
    if (!group_id) return group_id.error();
    auto group = require_group(ctx.store, *group_id);
    if (!group) return group.error();
    return GroupCall{*session, std::move(group).value()};
}

Result<GroupCall> member_call(const Context& ctx, const proto::Value& request) {
    auto call = group_call(ctx, request);
    if (!call) return call;
    if (auto s = require_member(ctx.store, call->group, call->session->user_pk); !s) {
        return s.error();
    }
    return call;
}

}  // namespace gs::tracker
