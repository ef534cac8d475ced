#include "peer/commands.hpp"

#include "shared/config.hpp"
#include "shared/ids.hpp"

#include <memory>

#include <fmt/format.h>

namespace gs::peer {

std::string human_bytes(std::int64_t n) {
    if (n >= (std::int64_t{1} << 30))
        return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1 << 30));
    if (n >= (1 << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
    if (n >= (1 << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
    return fmt::format("{} B", n);
}

bool Commands::check_id(std::string_view what, std::string_view id) {
    if (is_valid_id(id)) return true;
    fail(fmt::format("invalid {} '{}': use 1-64 letters, digits, '.', '_' or '-'", what,
                     printable(id)));
    return false;
}

Commands::Commands(TrackerClient& tracker, Prompt& prompt, std::string listen_addr)
    : tracker_(tracker), prompt_(prompt), listen_addr_(std::move(listen_addr)) {
    register_account_commands();
    register_group_commands();
}

void Commands::add(std::string name, Command command) {
    order_.push_back(name);
    commands_.emplace(std::move(name), std::move(command));
}

void Commands::fail(std::string_view message) {
    prompt_.print(fmt::format("error: {}", message));
}

void Commands::ask(proto::Dict request, std::function<void(const proto::Value&)> on_ok, Done done) {
    tracker_.request(std::move(request), [this, on_ok = std::move(on_ok),
                                          done = std::move(done)](Result<proto::Value> reply) {
        if (reply) {
            on_ok(*reply);
        } else {
            if (reply.error().code == Errc::NotLoggedIn && !user_.empty()) {
                on_session_lost();
            }
            fail(reply.error().message);
        }
        done();
    });
}

namespace {

// A tracker that keeps saying "more" cannot keep a command going forever: 2,000 pages of 500.
constexpr std::size_t kMaxPages = 2000;

struct Paging {
    proto::Dict request;
    std::string list_key;
    std::function<void(const proto::Value&)> on_item;
    std::function<void(std::size_t)> on_end;
    Commands::Done done;
    std::size_t total = 0;
    std::size_t pages = 0;
};

}  // namespace

void Commands::ask_pages(proto::Dict request, std::string list_key,
                         std::function<void(const proto::Value&)> on_item,
                         std::function<void(std::size_t total)> on_end, Done done) {
    auto state =
        std::make_shared<Paging>(Paging{std::move(request), std::move(list_key), std::move(on_item),
                                        std::move(on_end), std::move(done)});
    // One page; the next is asked from its reply. The function holds itself only through the
    // request in flight, so nothing is left once the last page is in.
    auto next_page = std::make_shared<std::function<void()>>();
    *next_page = [this, state, weak = std::weak_ptr<std::function<void()>>(next_page)] {
        ++state->pages;
        tracker_.request(
            state->request, [this, state, self = weak.lock()](Result<proto::Value> reply) {
                if (!reply) {
                    if (reply.error().code == Errc::NotLoggedIn && !user_.empty())
                        on_session_lost();
                    fail(reply.error().message);
                    return state->done();
                }
                if (const proto::List* items = reply->get_list(state->list_key)) {
                    for (const auto& item : *items) state->on_item(item);
                    state->total += items->size();
                }
                auto next = reply->get_string("next");
                if (reply->get_int("more").value_or(0) == 1 && next) {
                    if (state->pages >= kMaxPages) {
                        fail(
                            fmt::format("the tracker kept sending more after {} pages ({} items); "
                                        "stopped here",
                                        state->pages, state->total));
                        return state->done();
                    }
                    state->request["after"] = std::string(*next);
                    return (*self)();
                }
                state->on_end(state->total);
                state->done();
            });
    };
    (*next_page)();
}

void Commands::on_session_lost() {
    if (user_.empty()) return;
    prompt_.print(
        fmt::format("error: the tracker no longer knows your session as {}; please "
                    "login again",
                    user_));
    user_.clear();
    tracker_.clear_session();
    if (hooks_.on_logout) hooks_.on_logout();
}

void Commands::run(std::string_view line, Done done) {
    const auto fields = split_fields(line);
    const std::vector<std::string> words(fields.begin(), fields.end());
    if (words.empty()) {
        done();  // an empty line is not a command
        return;
    }
    const std::string& name = words[0];
    Args args(words.begin() + 1, words.end());
    if (name == "help") {
        help(std::move(done));
        return;
    }
    if (name == "quit" || name == "exit") {
        quit_requested_ = true;
        say("bye");
        done();
        return;
    }
    auto it = commands_.find(name);
    if (it == commands_.end()) {
        fail(fmt::format("unknown command '{}'; type help for the list", printable(name)));
        done();
        return;
    }
    const Command& cmd = it->second;
    const bool flagged =
        !cmd.flag.empty() && args.size() == cmd.arg_count + 1 && args.back() == cmd.flag;
    if (args.size() != cmd.arg_count && !flagged) {
        fail(fmt::format("usage: {}", cmd.usage));
        done();
        return;
    }
    if (cmd.needs_login && user_.empty()) {
        fail("you are not logged in; use login <user_id> <passwd> first");
        done();
        return;
    }
    cmd.run(args, std::move(done));
}

void Commands::help(Done done) {
    say("commands:");
    for (const auto& name : order_) {
        const auto& c = commands_.at(name);
        say(fmt::format("  {:<52} {}", c.usage, c.summary));
    }
    say(fmt::format("  {:<52} {}", "help", "show this list"));
    say(fmt::format("  {:<52} {}", "quit", "leave the client"));
    done();
}

void Commands::register_account_commands() {
    add("create_user", {"create_user <user_id> <passwd>", "create an account", 2, false,
                        call(this, &Commands::create_user)});
    add("login", {"login <user_id> <passwd>", "log in (and resume your shares)", 2, false,
                  call(this, &Commands::login)});
    add("logout", {"logout [--everywhere]",
                   "log out (stops sharing, pauses downloads); --everywhere: every session", 0,
                   true, call(this, &Commands::logout), "--everywhere"});
}

void Commands::create_user(const Args& a, Done done) {
    if (!check_id("user id", a[0])) return done();
    ask(
        {{"op", "create_user"}, {"user", a[0]}, {"password", a[1]}},
        [this, user = a[0]](const proto::Value&) { say(fmt::format("user {} created", user)); },
        std::move(done));
}

void Commands::login(const Args& a, Done done) {
    if (!user_.empty()) {
        fail(fmt::format("already logged in as {}; logout first", user_));
        return done();
    }
    if (!check_id("user id", a[0])) return done();
    proto::Dict request{
        {"op", "login"}, {"user", a[0]}, {"password", a[1]}, {"listen", listen_addr_}};
    if (!tracker_.peer_key().empty()) request["peer_key"] = tracker_.peer_key();
    ask(
        std::move(request),
        [this](const proto::Value& reply) {
            user_ = std::string(reply.get_string("user").value_or(""));
            tracker_.set_session(std::string(reply.get_string("token").value_or("")), listen_addr_);
            say(fmt::format("logged in as {}", user_));
            if (hooks_.on_login)
                hooks_.on_login(user_, reply.get_string("ticket_key").value_or(""));
        },
        std::move(done));
}

void Commands::logout(const Args& a, Done done) {
    const bool everywhere = !a.empty();  // the flag, checked by run()
    proto::Dict request{{"op", "logout"}};
    if (everywhere) request["everywhere"] = 1;
    ask(
        std::move(request),
        [this, everywhere](const proto::Value& reply) {
            if (everywhere) {
                say(fmt::format("logged out {} everywhere ({} session(s) ended)", user_,
                                reply.get_int("sessions").value_or(0)));
            } else {
                say(fmt::format("logged out {}", user_));
            }
            user_.clear();
            tracker_.clear_session();
            if (hooks_.on_logout) hooks_.on_logout();
        },
        std::move(done));
}

// One row per group command, in the order help lists them. Most send one request, named after
// the command, with the group id (and a user id) and answer with one line; the others are
// commands of their own.
struct Commands::GroupCommand {
    const char* name;
    const char* usage;
    const char* summary;
    std::size_t arg_count;  // 1: the group id; 2: and a user id
    // Printed when the request succeeds; {group} and {user} stand for the arguments.
    const char* success = nullptr;
    void (Commands::*run)(const Args&, Done) = nullptr;  // when `success` is not given
};

void Commands::register_group_commands() {
    static constexpr GroupCommand kGroupCommands[] = {
        {"create_group", "create_group <group_id>", "create a group you own", 1,
         "group {group} created; you are its owner"},
        {"join_group", "join_group <group_id>", "ask the owner to let you in", 1,
         "join request sent to the owner of group {group}"},
        {"leave_group", "leave_group <group_id>", "leave a group (stops your shares in it)", 1,
         nullptr, &Commands::leave_group},
        {"list_requests", "list_requests <group_id>", "pending join requests (owner only)", 1,
         nullptr, &Commands::list_requests},
        {"accept_request", "accept_request <group_id> <user_id>", "let a user into your group", 2,
         "{user} is now a member of group {group}"},
        {"reject_request", "reject_request <group_id> <user_id>", "turn down a join request", 2,
         "request from {user} to join group {group} rejected"},
        {"remove_member", "remove_member <group_id> <user_id>",
         "take a member out of your group (and their shares in it)", 2,
         "{user} is no longer a member of group {group}"},
        {"list_groups", "list_groups", "every group in the network", 0, nullptr,
         &Commands::list_groups},
    };
    for (const GroupCommand& c : kGroupCommands) {
        std::function<void(const Args&, Done)> run = [this, &c](const Args& a, Done done) {
            ask_group(c, a, std::move(done));
        };
        if (c.run != nullptr) run = call(this, c.run);
        add(c.name, {c.usage, c.summary, c.arg_count, true, std::move(run)});
    }
}

void Commands::ask_group(const GroupCommand& c, const Args& a, Done done) {
    const bool names_user = c.arg_count == 2;
    if (!check_id("group id", a[0]) || (names_user && !check_id("user id", a[1]))) {
        return done();
    }
    proto::Dict request{{"op", c.name}, {"group", a[0]}};
    if (names_user) request["user"] = a[1];
    ask(
        std::move(request),
        [this, line = fmt::format(fmt::runtime(c.success), fmt::arg("group", a[0]),
                                  fmt::arg("user", names_user ? a[1] : ""))](const proto::Value&) {
            say(line);
        },
        std::move(done));
}

void Commands::leave_group(const Args& a, Done done) {
    if (!check_id("group id", a[0])) return done();
    ask(
        {{"op", "leave_group"}, {"group", a[0]}},
        [this, g = a[0]](const proto::Value& reply) {
            std::string line = fmt::format("left group {}", g);
            if (auto owner = reply.get_string("new_owner")) {
                line += fmt::format("; {} is its new owner", *owner);
            }
            if (reply.get_int("deleted").value_or(0) == 1) {
                line += "; it had no other members and was deleted";
            }
            say(line);
            if (hooks_.on_left_group) hooks_.on_left_group(g);
        },
        std::move(done));
}

void Commands::list_requests(const Args& a, Done done) {
    if (!check_id("group id", a[0])) return done();
    ask_pages(
        {{"op", "list_requests"}, {"group", a[0]}}, "requests",
        [this](const proto::Value& r) {
            say(fmt::format("{}  requested {}", r.get_string("user").value_or("?"),
                            r.get_string("requested_at").value_or("?")));
        },
        [this, g = a[0]](std::size_t total) {
            if (total == 0) say(fmt::format("(no pending requests for group {})", g));
        },
        std::move(done));
}

// A member sees owner and member count; for other groups the tracker gives only the id
// (SECURITY.md).
void Commands::list_groups(const Args&, Done done) {
    ask_pages(
        {{"op", "list_groups"}}, "groups",
        [this](const proto::Value& g) {
            const auto id = g.get_string("group").value_or("?");
            if (g.get_int("member").value_or(0) != 1) {
                say(fmt::format("{}  (not a member; join_group {} to ask)", id, id));
                return;
            }
            say(fmt::format("{}  owner={}  members={}  (you are a member)", id,
                            g.get_string("owner").value_or("?"), g.get_int("members").value_or(0)));
        },
        [this](std::size_t total) {
            if (total == 0) say("(no groups yet)");
        },
        std::move(done));
}

}  // namespace gs::peer
