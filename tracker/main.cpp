// tracker tracker_info.txt N [--db PATH|URI] [--state-dir DIR] [--store-threads N]
//         [--ticket-lifetime SECONDS]
// The groupshare tracker: users, groups, files and seeders in SQLite, or in a PostgreSQL
// database several trackers share, served to clients by one epoll reactor thread
// (docs/ARCHITECTURE.md); its Store calls go through a StoreRunner (open_database below).
// `quit` on stdin or SIGTERM/SIGINT stops it cleanly;
// the end of stdin does not.
#include "shared/cli.hpp"
#include "shared/config.hpp"
#include "shared/log.hpp"
#include "shared/net/clock.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/signals.hpp"
#include "shared/net/socket.hpp"
#include "shared/net/tls.hpp"
#include "shared/worker_pool.hpp"
#include "tracker/dispatcher.hpp"
#include "tracker/password_hasher.hpp"
#include "tracker/pg/pg_store.hpp"
#include "tracker/server.hpp"
#include "tracker/sqlite_store.hpp"
#include "tracker/store_runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: tracker tracker_info.txt N [--db PATH|postgresql://URI] [--state-dir DIR] "
    "[--store-threads N] [--ticket-lifetime SECONDS]";
constexpr unsigned kHashThreads = 2;  // argon2id jobs in parallel; each takes 64 MiB briefly
constexpr unsigned kMaxStoreThreads = 64;
// Store threads (one connection each) for a PostgreSQL database unless --store-threads says.
constexpr unsigned kPgStoreThreads = 4;

struct Options {
    std::string tracker_info;
    int number = 0;
    std::string db_path;    // an SQLite file, or a PostgreSQL URI (gs::tracker::is_postgres_uri)
    std::string state_dir;  // PostgreSQL only: where the TLS key and certificate live
    // 0: the Store's default (SQLite inline on the reactor, PostgreSQL on kPgStoreThreads);
    // N: a pool of N threads, one database connection each.
    unsigned store_threads = 0;
    // For tests only: how long download tickets live (default gs::tracker::kTicketLifetime).
    std::chrono::seconds ticket_lifetime = gs::tracker::kTicketLifetime;
    // Test-only, left out of the usage on purpose (--test-clock): the end-to-end tests move the
    // tracker's clock with `advance SECONDS` on stdin (docs/ARCHITECTURE.md, habit 7).
    bool test_clock = false;
};

[[noreturn]] void usage_error(const std::string& message) {
    gs::cli::usage_error(kUsage, message);
}

Options parse_args(int argc, char** argv) {
    Options o;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--db") {
            o.db_path = gs::cli::option_value(argc, argv, i, kUsage, "--db needs a path");
        } else if (a == "--store-threads") {
            const std::string v =
                gs::cli::option_value(argc, argv, i, kUsage, "--store-threads needs a number");
            unsigned n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || p != v.data() + v.size() || n > kMaxStoreThreads) {
                usage_error(
                    fmt::format("--store-threads '{}' must be 0 to {}", v, kMaxStoreThreads));
            }
            o.store_threads = n;
        } else if (a == "--state-dir") {
            o.state_dir =
                gs::cli::option_value(argc, argv, i, kUsage, "--state-dir needs a directory");
        } else if (a == "--ticket-lifetime") {
            if (i + 1 >= argc) usage_error("--ticket-lifetime needs a number of seconds");
            std::string_view v = argv[++i];
            int secs = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
            if (ec != std::errc() || p != v.data() + v.size() || secs < 2 ||
                secs > gs::tracker::kTicketLifetime.count()) {
                usage_error(fmt::format("--ticket-lifetime '{}' must be 2 to {} seconds", v,
                                        gs::tracker::kTicketLifetime.count()));
            }
            o.ticket_lifetime = std::chrono::seconds(secs);
        } else if (a == "--test-clock") {
            o.test_clock = true;
        } else if (a == "-h" || a == "--help") {
            std::puts(kUsage);
            std::exit(0);
        } else if (a.rfind("--", 0) == 0) {
            usage_error(fmt::format("unknown option '{}'", a));
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) usage_error("expected tracker_info.txt and the tracker number");
    o.tracker_info = positional[0];
    const std::string& n = positional[1];
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), o.number);
    if (ec != std::errc() || p != n.data() + n.size() || o.number < 1) {
        usage_error(fmt::format("tracker number '{}' must be 1 or more", n));
    }
    if (o.db_path.empty()) o.db_path = fmt::format("groupshare-tracker-{}.db", o.number);
    if (!o.state_dir.empty() && !gs::tracker::is_postgres_uri(o.db_path)) {
        usage_error(
            "--state-dir is for a PostgreSQL --db; an SQLite database keeps its files "
            "beside it");
    }
    return o;
}

// The database (password hashes, session token hashes), its WAL, the TLS key and the ticket key
// are the tracker's secrets: a file left from before umask(077) was set at start is made
// owner-only too, with a log line.
void make_owner_only(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
    if (::chmod(path.c_str(), st.st_mode & 0700) == 0) {
        gs::log::warn("{} was readable by others; made it owner-only", path);
    } else {
        gs::log::warn("{} is readable by others and chmod failed: {}", path, std::strerror(errno));
    }
}

// A tracker holds one descriptor per client: take all the kernel allows (the soft limit is
// often 1,024, the hard one far more). Returns the limit in force.
rlim_t raise_open_file_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit wanted = lim;
        wanted.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) return wanted.rlim_cur;
    }
    return lim.rlim_cur;
}

// The tracker's Store and the runner its calls go through (docs/ARCHITECTURE.md, Threads), the
// key that signs download tickets, and the base name of the TLS key and certificate
// (<base>.tls-key.pem, <base>.tls-cert.pem).
struct Database {
    std::unique_ptr<gs::tracker::Store> store;  // the inline runner's; null for a pool
    std::unique_ptr<gs::tracker::StoreRunner> runner;
    gs::TicketSigner tickets;
    std::string files_base;
    std::string shown_db;  // the database as logs may show it (no password)
};

// SQLite (a plain path): the database file, with the ticket key and TLS files beside it; its
// calls run inline on the reactor by default (a call on a local file takes microseconds, less
// than a hop to a thread), or, with --store-threads, on a pool of SQLite connections to the same
// file (WAL and the busy timeout let them share it) that share one presence table.
// PostgreSQL (a postgresql:// URI): a pool of connections to the shared database (a network
// round trip must never stall the reactor), the set's ticket key inside it (SECURITY.md), the
// TLS files in --state-dir or the working directory. Throws with a message for the operator.
Database open_database(gs::net::EventLoop& loop, const Options& options) {
    Database db;
    if (gs::tracker::is_postgres_uri(options.db_path)) {
        unsigned char random[8];
        randombytes_buf(random, sizeof random);
        const std::string tracker_id =
            fmt::format("{}-{}-{:02x}", options.number, ::getpid(), fmt::join(random, ""));
        // The first connection migrates and fetches the key; the pool's threads then take it
        // and open the others.
        auto first = gs::tracker::PgStore::open(options.db_path, tracker_id);
        if (!first) throw std::runtime_error(first.error().message);
        auto tickets = (*first)->load_or_create_ticket_signer();
        if (!tickets) throw std::runtime_error(tickets.error().message);
        db.tickets = std::move(tickets).value();
        std::unique_ptr<gs::tracker::Store> spare = std::move(first).value();
        const unsigned threads = options.store_threads ? options.store_threads : kPgStoreThreads;
        db.runner = std::make_unique<gs::tracker::StoreRunner>(
            loop, threads, [&]() -> std::unique_ptr<gs::tracker::Store> {
                if (spare) return std::move(spare);
                auto store = gs::tracker::PgStore::open(options.db_path, tracker_id);
                if (!store) throw std::runtime_error(store.error().message);
                return std::move(store).value();
            });
        const std::string dir = options.state_dir.empty() ? "." : options.state_dir;
        db.files_base = fmt::format("{}/groupshare-tracker-{}", dir, options.number);
        db.shown_db = gs::tracker::redact_uri(options.db_path);
        for (const char* suffix : {".tls-key.pem", ".tls-cert.pem"}) {
            make_owner_only(db.files_base + suffix);
        }
        return db;
    }
    for (const char* suffix :
         {"", "-wal", "-shm", ".ticket-key", ".tls-key.pem", ".tls-cert.pem"}) {
        make_owner_only(options.db_path + suffix);
    }
    if (options.store_threads == 0) {
        // Opens and migrates; throws on failure.
        db.store = std::make_unique<gs::tracker::SqliteStore>(options.db_path);
        db.runner = std::make_unique<gs::tracker::StoreRunner>(*db.store);
    } else {
        std::shared_ptr<gs::tracker::PresenceTable> presence;
        db.runner = std::make_unique<gs::tracker::StoreRunner>(
            loop, options.store_threads, [&]() -> std::unique_ptr<gs::tracker::Store> {
                auto store = std::make_unique<gs::tracker::SqliteStore>(options.db_path);
                if (presence) {
                    store->share_presence(presence);
                } else {
                    presence = store->presence();
                }
                return store;
            });
    }
    // The key that signs download tickets lives next to the database (SECURITY.md).
    auto tickets = gs::TicketSigner::load_or_create(options.db_path + ".ticket-key");
    if (!tickets) throw std::runtime_error(tickets.error().message);
    db.tickets = std::move(tickets).value();
    db.files_base = options.db_path;
    db.shown_db = options.db_path;
    return db;
}

// `advance SECONDS` on stdin under --test-clock: moves the clock and prints where wall time
// stands, in Unix seconds.
void advance_test_clock(gs::net::TestClock& clock, std::string_view arg) {
    long long seconds = -1;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), seconds);
    if (ec != std::errc() || end != arg.data() + arg.size() || seconds < 0) {
        std::printf("error: usage: advance SECONDS\n");
    } else {
        clock.advance(std::chrono::seconds(seconds));
        std::printf("test clock at unix time %lld\n",
                    static_cast<long long>(gs::net::unix_seconds(clock.wall_now())));
    }
    std::fflush(stdout);
}

int run(const Options& options) {
    const rlim_t open_files = raise_open_file_limit();
    auto trackers = gs::read_tracker_info(options.tracker_info);
    if (!trackers) throw std::runtime_error(trackers.error().message);
    if (static_cast<std::size_t>(options.number) > trackers->size()) {
        throw std::runtime_error(fmt::format("{} lists {} tracker(s); there is no number {}",
                                             options.tracker_info, trackers->size(),
                                             options.number));
    }
    const gs::net::Endpoint& at = (*trackers)[options.number - 1].endpoint;

    std::optional<gs::net::TestClock> test_clock;
    if (options.test_clock) test_clock.emplace();
    gs::net::TimeSource& time = test_clock ? *test_clock : gs::net::TimeSource::system();
    gs::net::EventLoop loop(time);
    gs::net::SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int signo) {
        gs::log::info("received {}; stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        loop.stop();
    });

    Database db = open_database(loop, options);
    gs::tracker::StoreHeartbeat heartbeat(loop, *db.runner);
    auto listener = gs::net::listen_tcp(at);
    if (!listener) throw std::runtime_error(listener.error().message);
    auto bound = gs::net::local_endpoint(listener->get());
    if (!bound) throw std::runtime_error(bound.error().message);

    // Clients pin this certificate's fingerprint (docs/protocol.md §1.4).
    auto identity = gs::net::load_or_create_tls_identity(db.files_base);
    if (!identity) throw std::runtime_error(identity.error().message);
    auto tls = gs::net::TlsContext::server(*identity);
    if (!tls) throw std::runtime_error(tls.error().message);
    if (identity->created) {
        gs::log::info("made TLS key {} and certificate {}", identity->key_path,
                      identity->cert_path);
    }
    const std::string& pinned = (*trackers)[options.number - 1].fingerprint;
    if (!pinned.empty() && pinned != identity->fingerprint) {
        gs::log::warn(
            "{} pins {} for this tracker, but its certificate is {}: clients using "
            "that file will refuse it",
            options.tracker_info, pinned, identity->fingerprint);
    }

    gs::WorkerPool workers(loop, kHashThreads);
    gs::tracker::Argon2Hasher hasher(workers);
    gs::tracker::AccountLimits account_limits;
    account_limits.hash_workers = kHashThreads;
    gs::tracker::Server server(
        loop, std::move(listener).value(), *tls, [&](gs::tracker::ConnOutput& out) {
            return std::make_unique<gs::tracker::Dispatcher>(out, *db.runner, hasher,
                                                             std::move(db.tickets), account_limits,
                                                             options.ticket_lifetime, time);
        });

    gs::net::LineReader::Callbacks input;
    input.on_line = [&](std::string_view line) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            line.remove_prefix(1);
        if (line == "quit") {
            gs::log::info("quit on stdin; stopping");
            loop.stop();
        } else if (test_clock && line.starts_with("advance ")) {
            advance_test_clock(*test_clock, line.substr(std::string_view("advance ").size()));
        } else if (!line.empty()) {
            std::printf("error: unknown command; type quit to stop the tracker\n");
            std::fflush(stdout);
        }
    };
    input.on_eof = [] {};  // started in the background: keep serving
    input.on_too_long = [](std::size_t max_bytes) {
        std::printf("error: line longer than %zu bytes; ignored\n", max_bytes);
        std::fflush(stdout);
    };
    gs::net::LineReader stdin_reader(loop, STDIN_FILENO, std::move(input));

    std::printf("tracker %d listening on %s (database %s, fingerprint %s)\n", options.number,
                bound->to_string().c_str(), db.shown_db.c_str(), identity->fingerprint.c_str());
    std::fflush(stdout);
    gs::log::info(
        "tracker {} listening on {}, database {} ({}), TLS certificate {}, up to {} open "
        "files",
        options.number, bound->to_string(), db.shown_db,
        db.runner->is_inline() ? std::string("inline on the reactor")
                               : fmt::format("{} store threads", db.runner->threads()),
        identity->fingerprint, static_cast<unsigned long long>(open_files));
    loop.run();

    server.stop_accepting();
    gs::log::info("stopped; {} connection(s) closed, database closed", server.connection_count());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    gs::log::set_program("tracker");
    std::signal(SIGPIPE, SIG_IGN);
    // Everything the tracker creates (database, WAL, keys) is owner-only (SECURITY.md).
    ::umask(077);
    Options options = parse_args(argc, argv);
    if (sodium_init() < 0) {
        std::fprintf(stderr, "error: libsodium failed to initialise\n");
        return 1;
    }
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
