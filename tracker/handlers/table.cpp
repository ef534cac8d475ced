#include "tracker/handlers/handlers.hpp"

namespace gs::tracker {

const std::map<std::string_view, Handler>& handler_table() {
    static const std::map<std::string_view, Handler> kTable = {
        {"logout", {handle_logout, true}},
        {"create_group", {handle_create_group, true}},
        {"join_group", {handle_join_group, true}},
        {"leave_group", {handle_leave_group, true}},
        {"list_requests", {handle_list_requests, true}},
        {"accept_request", {handle_accept_request, true}},
        {"reject_request", {handle_reject_request, true}},
        {"list_groups", {handle_list_groups, true}},
        {"remove_member", {handle_remove_member, true}},
        {"upload_file", {handle_upload_file, true}},
        {"list_files", {handle_list_files, true}},
        {"stop_share", {handle_stop_share, true}},
        {"get_file", {handle_get_file, true}},
        {"get_peers", {handle_get_peers, true}},
        {"add_seeder", {handle_add_seeder, true}},
        {"remove_file", {handle_remove_file, true}},
    };
    return kTable;
}

}  // namespace gs::tracker
