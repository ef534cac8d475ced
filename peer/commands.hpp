// Commands: turns one line typed at the prompt into tracker requests and local actions, and
// prints the answer (docs/protocol.md; output rules in README "Using the client"). Owned by
// main, reactor thread only. One command runs at a time: run() calls `done` once the command
// has printed its last line.
#pragma once

#include "peer/prompt.hpp"
#include "peer/tracker_client.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer {

// A size as people read it: "512 B", "1.5 KiB", "2.0 MiB", "1.2 GiB".
std::string human_bytes(std::int64_t n);

class Commands {
public:
    using Done = std::function<void()>;
    using Args = std::vector<std::string>;

    // Hooks for the file-sharing side (issue #3), called on login and logout.
    struct SessionHooks {
        // `ticket_key`: the tracker's public key for download tickets.
        std::function<void(const std::string& user, std::string_view ticket_key)> on_login;
        std::function<void()> on_logout;
        std::function<void(const std::string& group)> on_left_group;
    };

    Commands(TrackerClient& tracker, Prompt& prompt, std::string listen_addr);

    void run(std::string_view line, Done done);
    bool quit_requested() const { return quit_requested_; }
    bool is_logged_in() const { return !user_.empty(); }
    const std::string& user() const { return user_; }

    // A file-sharing command set registers its commands here.
    struct Command {
        std::string usage;    // "join_group <group_id>"
        std::string summary;  // one line for help
        std::size_t arg_count;
        bool needs_login;
        std::function<void(const Args&, Done)> run;
        // An optional last word the command also takes ("--everywhere"); run() sees it in Args.
        std::string flag = {};
    };
    void add(std::string name, Command command);
    // A Command's `run` that calls the member function `fn` of `self`.
    template <class T>
    static std::function<void(const Args&, Done)> call(T* self, void (T::*fn)(const Args&, Done)) {
        return [self, fn](const Args& a, Done done) { (self->*fn)(a, std::move(done)); };
    }
    void set_session_hooks(SessionHooks hooks) { hooks_ = std::move(hooks); }

    // Output helpers shared with other command sets.
    void say(std::string_view line) { prompt_.print(line); }
    void fail(std::string_view message);
    // True for a valid id; otherwise prints "error: invalid <what> ..." and returns false.
    bool check_id(std::string_view what, std::string_view id);
    // Sends a request and prints either `on_ok(reply)` or "error: ...".
    void ask(proto::Dict request, std::function<void(const proto::Value&)> on_ok, Done done);

    // A listing (docs/protocol.md §1.3, paging): sends `request`, calls `on_item` for each item
    // of the reply's `list_key`, and asks again with "after" set to the reply's "next" for as
    // long as it says "more"; then `on_end(total items)`. An error on any page is printed
    // (after the items already shown) and ends it.
    void ask_pages(proto::Dict request, std::string list_key,
                   std::function<void(const proto::Value&)> on_item,
                   std::function<void(std::size_t total)> on_end, Done done);

    // The session was lost for good (token refused after a reconnect).
    void on_session_lost();

private:
    struct GroupCommand;

    void register_account_commands();
    void create_user(const Args& a, Done done);
    void login(const Args& a, Done done);
    void logout(const Args& a, Done done);
    void register_group_commands();
    void ask_group(const GroupCommand& c, const Args& a, Done done);
    void leave_group(const Args& a, Done done);
    void list_requests(const Args& a, Done done);
    void list_groups(const Args& a, Done done);
    void help(Done done);

    TrackerClient& tracker_;
    Prompt& prompt_;
    std::string listen_addr_;
    std::string user_;
    std::map<std::string, Command, std::less<>> commands_;
    std::vector<std::string> order_;  // for help
    SessionHooks hooks_;
    bool quit_requested_ = false;
};

}  // namespace gs::peer
