// Argument parsing and the checks most handlers share (logged in, group exists, member), each
// giving the exact user-facing message. Private to tracker/handlers/*.cpp.
#pragma once

#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"
#include "tracker/handlers/context.hpp"
#include "tracker/store.hpp"

#include <string>
#include <string_view>

namespace gs::tracker {

Result<const Session*> require_session(const Context& ctx);

// A user or group id argument; `what` is "user id" or "group id".
Result<std::string> require_id(const proto::Value& request, std::string_view key,
                               std::string_view what);
Result<std::string> require_file_name(const proto::Value& request, std::string_view key);
// Any byte string; `what` names it in the error.
Result<std::string> require_bytes(const proto::Value& request, std::string_view key,
                                  std::string_view what);

Error invalid_id_error(std::string_view what, std::string_view value);

// The group, or "group 'g' does not exist".
Result<Group> require_group(Store& store, std::string_view group_id);
// Ok when `user_pk` is a member, else "you are not a member of group 'g'".
Status require_member(Store& store, const Group& group, std::int64_t user_pk);
Error not_member_error(std::string_view group_id);

// A logged-in caller and the group its "group" argument names.
struct GroupCall {
    const Session* session = nullptr;
    Group group;
};
// Logged in, and a valid "group" argument naming an existing group, checked in that order.
Result<GroupCall> group_call(const Context& ctx, const proto::Value& request);
// The same, and the caller is a member of the group.
Result<GroupCall> member_call(const Context& ctx, const proto::Value& request);

}  // namespace gs::tracker
