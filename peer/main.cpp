// client IP:PORT tracker_info.txt [--data-dir DIR]
// The interactive groupshare client: a prompt for accounts, groups and files, and a server of
// pieces to other peers on IP:PORT. One reactor thread runs everything (docs/ARCHITECTURE.md).
#include "peer/commands.hpp"
#include "peer/file_sharing.hpp"
#include "peer/prompt.hpp"
#include "peer/tracker_client.hpp"
#include "shared/config.hpp"
#include "shared/log.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/signals.hpp"
#include "shared/net/socket.hpp"
#include "shared/worker_pool.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage = "usage: client IP:PORT tracker_info.txt [--data-dir DIR]";

struct Options {
    std::string listen;
    std::string tracker_info;
    std::string data_dir;
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "error: %s\n%s\n", message.c_str(), kUsage);
    std::exit(2);
}

Options parse_args(int argc, char** argv) {
    Options o;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--data-dir") {
            if (i + 1 >= argc) usage_error("--data-dir needs a directory");
            o.data_dir = argv[++i];
        } else if (a == "-h" || a == "--help") {
            std::puts(kUsage);
            std::exit(0);
        } else if (a.rfind("--", 0) == 0) {
            usage_error(fmt::format("unknown option '{}'", a));
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) usage_error("expected IP:PORT and tracker_info.txt");
    o.listen = positional[0];
    o.tracker_info = positional[1];
    return o;
}

std::filesystem::path default_data_dir(const gs::net::Endpoint& listen) {
    std::filesystem::path base;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
        base = xdg;
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        base = std::filesystem::path(home) / ".local" / "share";
    } else {
        base = ".";
    }
    return base / "groupshare" / fmt::format("client-{}-{}", listen.host, listen.port);
}

int run(const Options& options) {
    auto listen_at = gs::net::parse_endpoint(options.listen);
    if (!listen_at) throw std::runtime_error(listen_at.error().message);
    auto trackers = gs::read_tracker_info(options.tracker_info);
    if (!trackers) throw std::runtime_error(trackers.error().message);

    std::filesystem::path data_dir =
        options.data_dir.empty() ? default_data_dir(*listen_at) : std::filesystem::path(options.data_dir);
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        throw std::runtime_error(
            fmt::format("cannot create data directory {}: {}", data_dir.string(), ec.message()));
    }

    gs::net::EventLoop loop;
    gs::net::SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int) { loop.stop(); });

    auto listener = gs::net::listen_tcp(*listen_at);
    if (!listener) throw std::runtime_error(listener.error().message);
    auto bound = gs::net::local_endpoint(listener->get());
    if (!bound) throw std::runtime_error(bound.error().message);
    std::string listen_addr = bound->to_string();

    // Tracker keys pinned on first use, like SSH's known_hosts (docs/protocol.md §1.4).
    auto known = gs::KnownTrackers::load((data_dir / "known_trackers").string());
    if (!known) throw std::runtime_error(known.error().message);
    gs::peer::TrackerClient tracker(loop, std::move(trackers).value(),
                                    {options.tracker_info, std::move(known).value()}, {});
    // The tracker records the IP our connection comes from as our address: make it the one we
    // listen on, unless that is every address (0.0.0.0), when the route decides.
    if (bound->host != "0.0.0.0") tracker.set_source_address({bound->host, 0});
    gs::WorkerPool workers(loop, 2);  // file hashing (it spreads over every core itself), state saves
    std::unique_ptr<gs::peer::Prompt> prompt;
    std::unique_ptr<gs::peer::Commands> commands;
    std::unique_ptr<gs::peer::FileSharing> sharing;
    bool busy = false;
    bool input_ended = false;

    auto maybe_finish = [&] {
        // Without input the client still serves its shares and finishes its downloads.
        if (commands->quit_requested() || (input_ended && !busy && !sharing->is_busy())) {
            loop.stop();
        }
    };
    gs::peer::Prompt::Callbacks pc;
    pc.on_line = [&](std::string_view line) {
        busy = true;
        prompt->pause();
        commands->run(line, [&] {
            busy = false;
            if (commands->quit_requested()) {
                loop.stop();
                return;
            }
            prompt->resume();
            maybe_finish();
        });
    };
    pc.on_eof = [&] {
        input_ended = true;
        maybe_finish();
    };
    prompt = std::make_unique<gs::peer::Prompt>(loop, std::move(pc));
    commands = std::make_unique<gs::peer::Commands>(tracker, *prompt, listen_addr);
    gs::peer::TrackerClient::Callbacks tc;
    tc.on_refused = [&](std::string_view message, bool requests_fail) {
        // A command waiting on the tracker prints the message as its own answer.
        if (!(requests_fail && busy)) prompt->print(fmt::format("error: {}", message));
    };
    tracker.set_callbacks(std::move(tc));
    sharing = std::make_unique<gs::peer::FileSharing>(loop, tracker, *commands, workers,
                                                      std::move(listener).value(), data_dir);

    prompt->print(fmt::format("serving pieces on {}", listen_addr));
    tracker.start();
    loop.run();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    gs::log::set_program("client");
    std::signal(SIGPIPE, SIG_IGN);
    Options options = parse_args(argc, argv);
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
