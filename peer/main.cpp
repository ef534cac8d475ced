// client IP:PORT tracker_info.txt [--data-dir DIR] [--log-level LEVEL] [--verbose]
// client ctl --data-dir DIR COMMAND [ARG...]
// The interactive groupshare client: a prompt for accounts, groups and files, and a server of
// pieces to other peers on IP:PORT. One reactor thread runs everything (docs/ARCHITECTURE.md).
#include "peer/commands.hpp"
#include "peer/control.hpp"
#include "peer/data_dir_lock.hpp"
#include "peer/file_sharing.hpp"
#include "peer/prompt.hpp"
#include "peer/seal/noise.hpp"
#include "peer/tracker_client.hpp"
#include "shared/cli.hpp"
#include "shared/config.hpp"
#include "shared/log.hpp"
#include "shared/net/clock.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/signals.hpp"
#include "shared/net/socket.hpp"
#include "shared/worker_pool.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: client IP:PORT tracker_info.txt [--data-dir DIR] [--log-level error|warn|info|debug] "
    "[--verbose]\n       client ctl --data-dir DIR COMMAND [ARG...]";
constexpr std::string_view kVerboseOption = "--verbose";
constexpr const char* kCtlUsage = "usage: client ctl --data-dir DIR COMMAND [ARG...]";
// The log, in the data directory (README "Using it by hand").
constexpr const char* kLogFileName = "client.log";

// Test-only, left out of the usage on purpose: the end-to-end tests move this client's clock
// with the prompt line `__advance_clock SECONDS` (docs/ARCHITECTURE.md, habit 7).
constexpr std::string_view kTestClockOption = "--test-clock";
// Benchmarks only, also left out of the usage: speak plain BEP 3 to groupshare peers instead of
// the sealed channel, to measure what the sealing costs (bench/swarm; docs/protocol.md §2.1).
constexpr std::string_view kPlainPeerWireOption = "--plain-peer-wire";
// Test-only: tell the tracker this port instead of the one we listen on, so that a test's relay
// can stand between the downloaders and this client (tests/e2e/sealed_channel_test.cpp).
constexpr std::string_view kTestAnnouncePortOption = "--test-announce-port";
constexpr std::string_view kAdvanceClockCommand = "__advance_clock";

struct Options {
    std::string listen;
    std::string tracker_info;
    std::string data_dir;
    gs::log::Level log_level = gs::log::Level::info;
    bool verbose = false;  // log lines on stderr too
    bool test_clock = false;
    bool plain_peer_wire = false;
    std::string announce_port;
};

Options parse_args(int argc, char** argv) {
    Options o;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && argv[i] == kTestClockOption) {
            o.test_clock = true;
        } else if (i > 0 && argv[i] == kVerboseOption) {
            o.verbose = true;
        } else if (i > 0 && argv[i] == kPlainPeerWireOption) {
            o.plain_peer_wire = true;
        } else if (i > 0 && i + 1 < argc && argv[i] == kTestAnnouncePortOption) {
            o.announce_port = argv[++i];
        } else {
            args.push_back(argv[i]);
        }
    }
    std::string level;
    const gs::cli::ValueOption options[] = {
        {"--data-dir", "--data-dir needs a directory", &o.data_dir},
        {"--log-level", "--log-level needs one of error, warn, info, debug", &level}};
    auto positional =
        gs::cli::parse_command_line(static_cast<int>(args.size()), args.data(), kUsage, options);
    if (!level.empty()) {
        auto parsed = gs::log::parse_level(level);
        if (!parsed) {
            gs::cli::usage_error(kUsage, fmt::format("unknown log level '{}'; use error, warn, "
                                                     "info or debug",
                                                     level));
        }
        o.log_level = *parsed;
    }
    if (positional.size() != 2) {
        gs::cli::usage_error(kUsage, "expected IP:PORT and tracker_info.txt");
    }
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

std::filesystem::path make_data_dir(const Options& options, const gs::net::Endpoint& listen_at) {
    std::filesystem::path data_dir = options.data_dir.empty()
                                         ? default_data_dir(listen_at)
                                         : std::filesystem::path(options.data_dir);
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        throw std::runtime_error(
            fmt::format("cannot create data directory {}: {}", data_dir.string(), ec.message()));
    }
    return data_dir;
}

// The seed of the order in which the trackers of tracker_info.txt are tried: random, unless the
// environment variable GS_TRACKER_SEED holds a number, or `file` for no shuffle at all (tests:
// several clients that try the trackers in one same order, a test of the order of the lines).
std::optional<std::uint64_t> tracker_shuffle_seed() {
    if (const char* text = std::getenv("GS_TRACKER_SEED"); text != nullptr) {
        std::string_view v(text);
        if (v == "file") return std::nullopt;
        std::uint64_t seed = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seed);
        if (ec == std::errc() && end == v.data() + v.size() && !v.empty()) return seed;
    }
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// The exit statuses (README "Scripting"): 1 when stdin is not a terminal and a command failed
// (an `error:` line was printed), 130 when a signal (SIGINT, SIGTERM) ended the client.
constexpr int kExitFailed = 1;
constexpr int kExitSignalled = 130;

// The user's side of the client: the prompt, the commands and the file sharing, wired together.
// One line runs at a time, typed or sent by `client ctl` (peer/control.hpp): a controller's
// line runs as if typed, after the one in flight, with its output sent back to the controller.
// The loop stops when the user quits, or once the input has ended and nothing is shared or
// downloaded any more.
class Client {
public:
    Client(gs::net::EventLoop& loop, gs::peer::TrackerClient& tracker, gs::WorkerPool& workers,
           gs::net::Fd listener, const std::string& listen_addr, const std::string& announced,
           const std::filesystem::path& data_dir, gs::net::TestClock* test_clock)
        : loop_(loop),
          test_clock_(test_clock),
          prompt_(loop, {.on_line = [this](std::string_view line) { on_line(line); },
                         .on_eof = [this] { on_eof(); }}),
          commands_(tracker, prompt_, announced),
          sharing_(loop, tracker, commands_, workers, std::move(listener), data_dir) {
        // A marker between outputs for scripts (and the e2e harness): prints its word, never
        // fails.
        commands_.add("echo",
                      {"echo <word>", "print <word> (a marker in scripts)", 1, false,
                       [this](const gs::peer::Commands::Args& a, gs::peer::Commands::Done done) {
                           commands_.say(a[0]);
                           done();
                       }});
        auto control = gs::peer::ControlServer::open(
            loop, data_dir, [this](gs::peer::ControlServer::RequestId id, std::string line) {
                control_queue_.emplace_back(id, std::move(line));
                next();
            });
        if (control) {
            control_ = std::move(control).value();
        } else {
            gs::log::warn("no remote control: {}", control.error().message);
        }
        // Last: once this line is out, `client ctl` reaches this client.
        prompt_.print(fmt::format("serving pieces on {}", listen_addr));
        if (announced != listen_addr) gs::log::info("telling the tracker {} instead", announced);
    }

    void set_peer_wire(const gs::peer::seal::KeyPair& key, bool plain) {
        sharing_.set_peer_wire(key, plain);
    }

    // The exit status once the loop has stopped, unless a signal ended it.
    int exit_status() const {
        return !prompt_.is_terminal() && prompt_.printed_error() ? kExitFailed : 0;
    }

    // What the tracker client says when a tracker's key does not match its pin.
    void on_refused(std::string_view message, bool requests_fail) {
        // A command waiting on the tracker prints the message as its own answer.
        if (!(requests_fail && busy_)) prompt_.print(fmt::format("error: {}", message));
    }

    // What the tracker client says when it fails over to another tracker.
    void on_switched(std::string_view from, std::string_view to) {
        prompt_.print(fmt::format("tracker {} lost; now using {}", from, to));
    }

private:
    void on_line(std::string_view line) {
        prompt_.pause();  // the next line is read once this one has run
        typed_ = std::string(line);
        next();
    }

    // Runs the next waiting line unless one runs: the typed one first, then the controllers'.
    // With none left, reads the prompt again.
    void next() {
        if (busy_ || commands_.quit_requested()) return;
        if (typed_) {
            std::string line = std::move(*typed_);
            typed_.reset();
            return run_line(line, std::nullopt);
        }
        if (!control_queue_.empty()) {
            auto [id, line] = std::move(control_queue_.front());
            control_queue_.pop_front();
            return run_line(line, id);
        }
        prompt_.resume();
        maybe_finish();
    }

    void run_line(const std::string& line,
                  std::optional<gs::peer::ControlServer::RequestId> controller) {
        busy_ = true;
        if (controller) {
            control_failed_ = false;
            prompt_.set_capture([this, id = *controller](std::string_view out) {
                if (out.starts_with("error: ")) control_failed_ = true;
                control_->output(id, out);
            });
        }
        auto done = [this, controller] {
            busy_ = false;
            std::function<void()> then = [this] { next(); };
            if (commands_.quit_requested()) then = [this] { loop_.stop(); };
            if (!controller) return then();
            prompt_.set_capture({});
            control_->finish(*controller, control_failed_, std::move(then));
        };
        if (test_clock_ != nullptr && line.starts_with(kAdvanceClockCommand)) {
            advance_clock(std::string_view(line).substr(kAdvanceClockCommand.size()));
            return done();
        }
        commands_.run(line, std::move(done));
    }

    // `__advance_clock SECONDS` (test-only): moves the clock and prints where wall time stands.
    void advance_clock(std::string_view arg) {
        while (arg.starts_with(' ')) arg.remove_prefix(1);
        long long seconds = -1;
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), seconds);
        if (ec != std::errc() || end != arg.data() + arg.size() || seconds < 0) {
            prompt_.print(fmt::format("error: usage: {} SECONDS", kAdvanceClockCommand));
            return;
        }
        test_clock_->advance(std::chrono::seconds(seconds));
        prompt_.print(fmt::format("test clock at unix time {}", loop_.unix_now()));
    }

    void on_eof() {
        input_ended_ = true;
        maybe_finish();
    }

    void maybe_finish() {
        // Without input the client still serves its shares and finishes its downloads.
        if (commands_.quit_requested() ||
            (input_ended_ && !busy_ && !typed_ && control_queue_.empty() && !sharing_.is_busy())) {
            loop_.stop();
        }
    }

    gs::net::EventLoop& loop_;
    gs::net::TestClock* test_clock_;  // null unless --test-clock
    gs::peer::Prompt prompt_;
    gs::peer::Commands commands_;
    gs::peer::FileSharing sharing_;
    bool busy_ = false;
    bool input_ended_ = false;
    std::optional<std::string> typed_;  // read, waiting for the line in flight
    std::deque<std::pair<gs::peer::ControlServer::RequestId, std::string>> control_queue_;
    bool control_failed_ = false;  // the controller's line in flight printed an error
    std::unique_ptr<gs::peer::ControlServer> control_;  // null when its socket could not be made
};

int run(const Options& options) {
    auto listen_at = gs::net::parse_endpoint(options.listen);
    if (!listen_at) throw std::runtime_error(listen_at.error().message);
    auto trackers = gs::read_tracker_info(options.tracker_info);
    if (!trackers) throw std::runtime_error(trackers.error().message);
    const std::filesystem::path data_dir = make_data_dir(options, *listen_at);
    auto lock = gs::peer::DataDirLock::acquire(data_dir);
    if (!lock) throw std::runtime_error(lock.error().message);
    // Log lines go to a file, out of the prompt's way; --verbose also shows them on stderr.
    gs::log::set_level(options.log_level);
    if (auto st = gs::log::log_to_file((data_dir / kLogFileName).string(), options.verbose); !st) {
        throw std::runtime_error(st.error().message);
    }

    std::optional<gs::net::TestClock> test_clock;
    if (options.test_clock) test_clock.emplace();
    gs::net::EventLoop loop(test_clock ? *test_clock : gs::net::TimeSource::system());
    bool signalled = false;
    gs::net::SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int) {
        signalled = true;
        loop.stop();
    });

    auto listener = gs::net::listen_tcp(*listen_at);
    if (!listener) throw std::runtime_error(listener.error().message);
    auto bound = gs::net::local_endpoint(listener->get());
    if (!bound) throw std::runtime_error(bound.error().message);

    // Tracker keys pinned on first use, like SSH's known_hosts (docs/protocol.md §1.4).
    auto known = gs::KnownTrackers::load((data_dir / "known_trackers").string());
    if (!known) throw std::runtime_error(known.error().message);
    gs::peer::TrackerClient tracker(loop, std::move(trackers).value(),
                                    {options.tracker_info, std::move(known).value()}, {},
                                    tracker_shuffle_seed());
    // The tracker records the IP our connection comes from as our address: make it the one we
    // listen on, unless that is every address (0.0.0.0), when the route decides.
    if (bound->host != "0.0.0.0") tracker.set_source_address({bound->host, 0});
    gs::WorkerPool workers(loop,
                           2);  // file hashing (it spreads over every core itself), state saves
    // Our sealed peer channel's key: new at every start; the tracker learns it at login.
    const auto channel_key = gs::peer::seal::KeyPair::generate();
    tracker.set_peer_key(gs::peer::seal::to_hex(channel_key.public_key));
    const std::string announced = options.announce_port.empty()
                                      ? bound->to_string()
                                      : fmt::format("{}:{}", bound->host, options.announce_port);
    Client client(loop, tracker, workers, std::move(listener).value(), bound->to_string(),
                  announced, data_dir, test_clock ? &*test_clock : nullptr);
    client.set_peer_wire(channel_key, options.plain_peer_wire);
    if (options.plain_peer_wire) {
        gs::log::warn("--plain-peer-wire: pieces go to and come from groupshare peers in clear");
    }
    tracker.set_callbacks(
        {.on_refused = [&client](std::string_view message,
                                 bool requests_fail) { client.on_refused(message, requests_fail); },
         .on_switched = [&client](std::string_view from,
                                  std::string_view to) { client.on_switched(from, to); }});
    tracker.start();
    loop.run();
    return signalled ? kExitSignalled : client.exit_status();
}

}  // namespace

// `client ctl --data-dir DIR COMMAND [ARG...]`: the words after the command are its own, even
// those starting with "--". A usage error exits 1 (2 means that no client runs there).
int run_ctl(int argc, char** argv) {
    std::string data_dir;
    int i = 2;
    for (; i < argc; ++i) {
        const std::string_view word = argv[i];
        if (word == "-h" || word == "--help") {
            fmt::print("{}\n", kCtlUsage);
            return 0;
        }
        if (word == "--data-dir" && i + 1 < argc) {
            data_dir = argv[++i];
        } else if (word.starts_with("--")) {
            fmt::print(stderr, "error: unknown option '{}'\n{}\n", word, kCtlUsage);
            return 1;
        } else {
            break;
        }
    }
    if (data_dir.empty() || i >= argc) {
        fmt::print(stderr, "error: {}\n{}\n",
                   data_dir.empty() ? "--data-dir DIR is required" : "expected a command",
                   kCtlUsage);
        return 1;
    }
    return gs::peer::run_control_command(data_dir, std::vector<std::string>(argv + i, argv + argc));
}

int main(int argc, char** argv) {
    gs::log::set_program("client");
    std::signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && std::string_view(argv[1]) == "ctl") return run_ctl(argc, argv);
    Options options = parse_args(argc, argv);
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
