#include "tracker/handlers/handlers.hpp"

namespace gs::tracker {
namespace {

constexpr Route handled(HandlerFn fn) {
    return Route{fn};
}

// The ops that hand out tickets or register a seeder (SECURITY.md, session revocation).
constexpr Route ticketed(HandlerFn fn) {
    Route r{fn};
    r.needs_live_session = true;
    return r;
}

constexpr Route account(AccountOp op) {
    Route r;
    r.account = op;
    r.needs_login = false;
    return r;
}

constexpr Route ending_session(HandlerFn fn) {
    Route r{fn};
    r.ends_session = true;
    return r;
}

}  // namespace

const std::map<std::string_view, Route>& route_table() {
    static const std::map<std::string_view, Route> kTable = {
        {"create_user", account(AccountOp::CreateUser)},
        {"login", account(AccountOp::Login)},
        {"resume", account(AccountOp::Resume)},
        {"logout", ending_session(handle_logout)},
        {"create_group", handled(handle_create_group)},
        {"join_group", handled(handle_join_group)},
        {"leave_group", handled(handle_leave_group)},
        {"list_requests", handled(handle_list_requests)},
        {"accept_request", handled(handle_accept_request)},
        {"reject_request", handled(handle_reject_request)},
        {"list_groups", handled(handle_list_groups)},
        {"remove_member", handled(handle_remove_member)},
        {"upload_file", ticketed(handle_upload_file)},
        {"list_files", handled(handle_list_files)},
        {"stop_share", handled(handle_stop_share)},
        {"get_file", ticketed(handle_get_file)},
        {"get_peers", ticketed(handle_get_peers)},
        {"add_seeder", ticketed(handle_add_seeder)},
        {"remove_file", handled(handle_remove_file)},
    };
    return kTable;
}

}  // namespace gs::tracker
