// End-to-end harness: starts the real `tracker` and `client` binaries (paths from the GS_TRACKER
// and GS_CLIENT environment variables, set by tests/e2e/meson.build) in a fresh temp dir, drives
// them through stdin and reads them through stdout (docs/ARCHITECTURE.md, habit 7). Used from the
// test thread; each Process also runs one reader thread that only appends to its line buffers.
//
// Every wait is on an event with a deadline. A wait that times out records a GoogleTest failure
// holding every live process's captured stdout and stderr, then throws TestAborted so the test
// stops there (GoogleTest reports the exception as a second, short failure).
#pragma once

#include "tests/e2e/non_copyable.hpp"

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace gs::e2e {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;

// Generous: a create_user or login costs one argon2id hash (~0.1-0.3 s of tracker CPU), and
// a loaded CI machine may run several of them back to back.
inline constexpr Duration kDefaultTimeout{10000};

// Thrown after a harness wait has already recorded its failure; it only unwinds the test.
struct TestAborted : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Process;

// Records a failure at `where` with `what` and every process's captured output, then throws.
// `focus`, the process the failure is about, is always shown in full.
[[noreturn]] void fail_with_dump(const std::string& what, std::source_location where,
                                 Process* focus = nullptr);

// Every live Process's command line, exit status and captured output, for failure messages.
// Past the first kDumpFullProcesses (and `focus`), a process gets a one-line summary, so a
// test with hundreds of clients still gives a readable message.
inline constexpr std::size_t kDumpFullProcesses = 16;
std::string dump_all_processes(Process* focus = nullptr);

// A path from the environment (GS_TRACKER, GS_CLIENT); aborts the test when it is not set.
std::string binary_from_env(const char* name);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at the end.
// Set GS_E2E_KEEP_TMP=1 to keep it for a look after a failure.
class TempDir : NonCopyable {
public:
    TempDir();
    ~TempDir();

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

struct ExitStatus {
    bool exited = false;  // true: `code` is valid; false: killed by `signal`
    int code = 0;
    int signal = 0;
    std::string to_string() const;
    bool is_clean() const { return exited && code == 0; }
};

// One child process in its own process group, with stdin a pipe and stdout and stderr captured
// line by line. The destructor kills the whole group and reaps the child.
class Process : NonCopyable {
public:
    Process(std::string name, std::string binary, std::vector<std::string> args,
            std::filesystem::path cwd = {});
    ~Process();

    const std::string& name() const { return name_; }
    pid_t pid() const { return pid_; }

    void send_line(std::string_view line);
    void close_stdin();

    // Waits for the next stdout line (after the read position) that `pattern` finds
    // (regex_search), moves the read position past it and returns it. Lines skipped on the way
    // are consumed too. Fails the test with every process's output on timeout.
    std::string wait_for_line(const std::string& pattern, Duration timeout = kDefaultTimeout,
                              std::source_location where = std::source_location::current());
    // Like wait_for_line, but returns the lines before the match (the match is consumed and
    // left out).
    std::vector<std::string> read_until(
        const std::string& pattern, Duration timeout = kDefaultTimeout,
        std::source_location where = std::source_location::current());
    // The same for stderr (logs), with its own read position.
    std::string wait_for_stderr_line(const std::string& pattern, Duration timeout = kDefaultTimeout,
                                     std::source_location where = std::source_location::current());

    // Waits until the child's stdout and stderr have both ended, so that the snapshots below
    // hold everything it printed (after wait_exit, the reader may still be catching up).
    // Fails the test on timeout.
    void wait_output_closed(Duration timeout = kDefaultTimeout,
                            std::source_location where = std::source_location::current());

    // Snapshots of everything captured so far.
    std::vector<std::string> stdout_lines() const;
    std::vector<std::string> stderr_lines() const;

    void signal(int signo);
    // Waits for the child to end (it is reaped here). Fails the test on timeout.
    ExitStatus wait_exit(Duration timeout = kDefaultTimeout,
                         std::source_location where = std::source_location::current());
    // The exit status if the child has ended by now, without waiting.
    std::optional<ExitStatus> poll_exit();

    // For failure messages (reaps the child if it has ended, to show its status).
    std::string describe();
    std::string summarize();

private:
    struct Stream {
        std::vector<std::string> lines;
        std::string partial;
        std::size_t cursor = 0;  // next line a wait looks at
        bool closed = false;
    };

    void reader_main(int out_fd, int err_fd);
    void take_bytes(Stream& s, const char* data, std::size_t n);
    std::optional<std::size_t> wait_in(Stream Process::*stream, const std::regex& re,
                                       Duration timeout);
    std::string wait_error(Stream Process::*stream, const std::string& pattern,
                           Duration timeout) const;
    // wait_in, failing the test (with wait_error's message) on timeout; the matching index.
    std::size_t wait_or_fail(Stream Process::*stream, const std::string& pattern, Duration timeout,
                             std::source_location where);
    // wait_or_fail, then a copy of the matching line.
    std::string wait_line(Stream Process::*stream, const std::string& pattern, Duration timeout,
                          std::source_location where);

    std::string name_;
    std::string command_line_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int stdin_fd_ = -1;
    std::optional<ExitStatus> exit_;

    mutable std::mutex mu_;
    std::condition_variable changed_;
    Stream out_;
    Stream err_;
    std::thread reader_;
    int wake_fd_ = -1;  // eventfd: tells the reader to stop
};

// Which database the e2e trackers run on: SQLite files in the temp dir by default; with
// GS_TEST_DB=postgresql in the environment (`meson test --setup pg`), a fresh database of this
// binary's throwaway PostgreSQL cluster (tests/pg_cluster.hpp) for each Tracker and TrackerSet.
bool on_postgres();
// The URI of a new, migrated database on the binary's PostgreSQL cluster (started on first use,
// whatever GS_TEST_DB says); fails the test when there is none.
std::string fresh_pg_database(std::source_location where = std::source_location::current());
// Stops the cluster at once (immediate mode, like a crash) / starts it again on the same socket
// and data; each fails the test when the script does.
void stop_postgres(std::source_location where = std::source_location::current());
void start_postgres(std::source_location where = std::source_location::current());

// The tracker, started on 127.0.0.1:0 with its database in the temp dir (or on PostgreSQL, see
// on_postgres()). Once it prints its bound port, the clients' tracker_info.txt is written with
// that port.
class Tracker {
public:
    explicit Tracker(const TempDir& dir);
    // Tracker `number` (from 1) of a TrackerSet: started from line `number` of `own_info`,
    // restarted from `client_info` (which the set writes), with `db` as its --db value.
    Tracker(const TempDir& dir, int number, std::string db, std::filesystem::path own_info,
            std::filesystem::path client_info);

    void start();
    // Options added to the command line from the next start on (e.g. --ticket-lifetime 2).
    void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
    // Starts it again on the same port and database; the previous process must have ended
    // (after quit, SIGTERM or SIGKILL).
    void restart();
    // SIGKILL and reap.
    void kill();
    // `quit` on stdin; expects exit status 0.
    void quit();

    Process& process() { return *current_; }
    std::uint16_t port() const { return port_; }
    std::string address() const;
    const std::filesystem::path& client_info_path() const { return client_info_; }
    // Its --db value: an SQLite path, or a postgresql:// URI (chosen at its first start and
    // kept by restart).
    const std::string& db() const { return db_; }
    // The base name of its TLS key and certificate (<base>.tls-key.pem, <base>.tls-cert.pem):
    // the SQLite file, or groupshare-tracker-N in its working directory (the temp dir) on
    // PostgreSQL.
    std::string files_base() const;
    // Its TLS certificate's fingerprint, "sha256:<hex>", from its start line.
    const std::string& fingerprint() const { return fingerprint_; }

private:
    void launch(const std::filesystem::path& info);

    const TempDir& dir_;
    int number_ = 1;
    bool in_set_ = false;  // the TrackerSet writes the tracker_info files
    std::filesystem::path own_info_;
    std::filesystem::path client_info_;
    std::string db_;  // empty until the first start for a lone tracker
    std::uint16_t port_ = 0;
    std::string fingerprint_;
    int generation_ = 0;
    std::vector<std::string> extra_args_;
    std::unique_ptr<Process> current_;
    std::vector<std::unique_ptr<Process>> ended_;  // kept so their output stays in dumps
};

// Several trackers serving one state: tracker i (from 0) runs as number i+1 of one
// tracker_info.txt, every one with the same --db value, and the clients' tracker_info.txt lists
// them all in that order. `db` defaults to tracker.db in the temp dir: the processes then share
// that SQLite file (WAL mode; a writer waits for another's lock, up to the busy timeout) and the
// TLS identity and ticket key kept beside it, so they have one fingerprint and sign the same
// tickets. When on_postgres(), or given a postgresql:// URI, they share that database and the
// ticket key in it; each has its own TLS identity (groupshare-tracker-N in the temp dir).
// They start one after the other, so the first makes the files the others load. The clients'
// file is the one a lone Tracker in the same temp dir would write (client_info_path()).
class TrackerSet {
public:
    TrackerSet(const TempDir& dir, std::size_t count, std::string db = {});

    void start();
    std::size_t size() const { return trackers_.size(); }
    Tracker& operator[](std::size_t i) { return *trackers_.at(i); }
    const Tracker& operator[](std::size_t i) const { return *trackers_.at(i); }
    // The index of the tracker listening on `address` ("127.0.0.1:PORT"); fails the test if
    // none does.
    std::size_t index_of(const std::string& address,
                         std::source_location where = std::source_location::current()) const;
    const std::filesystem::path& client_info_path() const { return client_info_; }
    const std::string& db() const { return db_; }

private:
    std::filesystem::path own_info_;
    std::filesystem::path client_info_;
    std::string db_;
    std::vector<std::unique_ptr<Tracker>> trackers_;
};

// A command sent to a client whose output has not been collected yet.
struct PendingCommand {
    std::string command;
    std::string marker;
};

// A client on 127.0.0.1:0 with its own data dir, already serving (it printed its address).
//
// How run() knows a command's output is complete: the client runs commands strictly one at a
// time, so run() sends the command followed by `echo __sync_N__`. Everything printed before the
// line `__sync_N__` belongs to the real one. Clients run with --verbose: their log lines are on
// stderr (and in client.log in their data dir).
class Client {
public:
    // `extra_args` go after the usual ones (e.g. the test-only --test-clock).
    Client(const TempDir& dir, const Tracker& tracker, std::string name,
           std::vector<std::string> extra_args = {});
    // The same with its own tracker_info.txt (e.g. one set's trackers in another order).
    Client(const TempDir& dir, const std::filesystem::path& tracker_info, std::string name,
           std::vector<std::string> extra_args = {});

    // Sends `command` and returns every line it printed.
    std::vector<std::string> run(std::string_view command, Duration timeout = kDefaultTimeout,
                                 std::source_location where = std::source_location::current());
    // The same in two halves, so many clients can be kept busy at once.
    PendingCommand send(std::string_view command);
    std::vector<std::string> collect(const PendingCommand& pending,
                                     Duration timeout = kDefaultTimeout,
                                     std::source_location where = std::source_location::current());

    // Convenience for the common single-line answers: the one line, or a failure naming all.
    std::string run_one(std::string_view command, Duration timeout = kDefaultTimeout,
                        std::source_location where = std::source_location::current());

    // A setup step: runs `command` and aborts the test unless it printed exactly `expected`.
    void must(std::string_view command, std::string_view expected,
              std::source_location where = std::source_location::current());

    // `quit`, then waits for "bye" and the exit: status 1 if any `error:` line was printed on
    // stdout (a command failed), else 0.
    void quit();

    Process& process() { return *process_; }
    const std::string& name() const { return name_; }
    const std::string& listen_address() const { return listen_; }

private:
    std::string name_;
    std::unique_ptr<Process> process_;
    std::string listen_;
    std::uint64_t next_marker_ = 1;
};

// Setup steps (each aborts the test unless the clients answer as usual):
// `owner` creates `group`;
void create_group(Client& owner, const std::string& group,
                  std::source_location where = std::source_location::current());
// `member` asks to join `group` (the request stays pending);
void ask_to_join(Client& member, const std::string& group,
                 std::source_location where = std::source_location::current());
// `owner` accepts the pending request of `user` to join `group`;
void accept_request(Client& owner, const std::string& group, const std::string& user,
                    std::source_location where = std::source_location::current());
// `member`, logged in as `user`, asks to join `group`, and `owner` accepts the request;
void join_group(Client& owner, Client& member, const std::string& user, const std::string& group,
                std::source_location where = std::source_location::current());
// `owner` creates `group` and lets each of `members` (logged in as `users`) in.
void make_group(Client& owner, const std::string& group, const std::vector<Client*>& members,
                const std::vector<std::string>& users,
                std::source_location where = std::source_location::current());

// `text` with the characters that mean something in a regex escaped, to match it literally.
std::string regex_escape(std::string_view text);
// `n` bytes that depend only on `seed`.
std::string random_bytes(std::size_t n, std::uint64_t seed);
// Writes `bytes` as the whole file, making its directory; throws when it cannot.
void write_file(const std::filesystem::path& path, std::string_view bytes);
// The whole file ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Sets an environment variable for the processes started while it lives (e.g. GS_TRACKER_SEED,
// docs/protocol.md §1.2), then removes it.
class ScopedEnv : NonCopyable {
public:
    ScopedEnv(const char* name, const char* value);
    ~ScopedEnv();

private:
    const char* name_;
};

// Polls `condition` every few milliseconds until it holds or `timeout` passes; false then.
bool eventually(const std::function<bool()>& condition, Duration timeout = kDefaultTimeout);

// Number of sockets a process holds open (from /proc/PID/fd).
int count_open_sockets(pid_t pid);

// A connection to the tracker for sending raw bytes (docs/protocol.md §1.1), written here with
// OpenSSL directly rather than with the product's code. By default it speaks TLS 1.3 as a client
// does (§1.4; the handshake is done in the constructor, the certificate is not checked) and the
// bytes go inside TLS records; with Transport::Plain they go bare onto the socket, as from
// something that does not speak TLS. Every wait has a deadline.
class RawConnection : NonCopyable {
public:
    enum class Transport { Tls, Plain };

    // `source`: the local address to connect from ("" = any; any 127.x.y.z works on Linux
    // loopback), to stand for another host.
    RawConnection(const std::string& host, std::uint16_t port, Transport transport = Transport::Tls,
                  const std::string& source = {},
                  std::source_location where = std::source_location::current());
    ~RawConnection();

    void send_bytes(std::string_view bytes);
    // A 4-byte big-endian length, then `body`.
    void send_frame(std::string_view body);
    // The next whole frame's body, or nullopt if the connection ended first (EOF or reset).
    // Fails the test on timeout.
    std::optional<std::string> read_frame(
        Duration timeout = kDefaultTimeout,
        std::source_location where = std::source_location::current());
    // True once the peer has closed (EOF or reset) with no more frames; fails on timeout.
    // Bytes that arrive before the close are an error.
    bool wait_closed(Duration timeout = kDefaultTimeout,
                     std::source_location where = std::source_location::current());
    // Every byte that arrives until the peer closes (EOF or reset); fails on timeout.
    std::string read_until_closed(Duration timeout = kDefaultTimeout,
                                  std::source_location where = std::source_location::current());

private:
    // Appends what arrives to buffer_; false on EOF/reset. Fails the test at `deadline`.
    bool read_more(Clock::time_point deadline, std::source_location where);
    // Repeats one OpenSSL call while it wants the socket, waiting for it each time; returns its
    // SSL_get_error() code (SSL_ERROR_NONE on success). Fails the test at `deadline`.
    int tls_call(const std::function<int()>& call, Clock::time_point deadline, const char* what,
                 std::source_location where);

    int fd_ = -1;
    ssl_ctx_st* ctx_ = nullptr;
    ssl_st* ssl_ = nullptr;
    std::string buffer_;
};

// The string value of `key` in a raw bencoded reply (a flat dictionary), or "" without one.
std::string bencode_string_field(std::string_view reply, std::string_view key);

// Logs `raw` in as the existing `user` (listen address 127.0.0.1:1) and returns the session
// token; fails the test unless the tracker answers ok.
std::string raw_login(RawConnection& raw, const std::string& user, const std::string& password,
                      std::source_location where = std::source_location::current());

// One raw tracker session over a RawConnection: requests by op and arguments, each with the next
// `seq`; the reply is the raw bencoded frame that carries that `seq` (frames for other seqs are
// skipped), or "(connection closed)".
class RawSession {
public:
    using Args = std::vector<std::pair<std::string, std::string>>;

    explicit RawSession(std::uint16_t port) : conn_("127.0.0.1", port) {}

    std::string request(const std::string& op, Args args = {});
    // create_user (when `create`) and login with password "secret", announcing `listen`;
    // fails the test unless both answer ok.
    void login(const std::string& user, const std::string& listen, bool create);

private:
    RawConnection conn_;
    std::int64_t next_seq_ = 1;
};

// A minimal bencode writer for raw requests, independent of the product's codec.
class Bencode {
public:
    static std::string str(std::string_view s);
    static std::string integer(std::int64_t i);
    // A dictionary from (key, already-encoded value) pairs; keys are sorted here.
    static std::string dict(std::vector<std::pair<std::string, std::string>> entries);
};

// The usual fixture: a fresh temp dir and a running tracker; clients are made on demand and
// named client1, client2, ... On any failure the output of every process is printed once.
class E2eTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    Client& new_client(std::vector<std::string> extra_args = {});
    // Clients made from now on run with --plain-peer-wire: they speak plain BEP 3 to peers and
    // accept it for members' shares. For the tests whose raw peers and fake seeders speak plain
    // BEP 3 to test what comes after the channel (tickets, admission, hostile and slow seeders);
    // the sealed channel itself is tested in sealed_channel_test.
    void use_plain_peer_wire() { client_args_ = {"--plain-peer-wire"}; }
    // A new client on which `user` has been created and logged in.
    Client& logged_in(const std::string& user, const std::string& password = "secret",
                      std::source_location where = std::source_location::current());
    // Logged-in clients for `owner` and each of `members`; `owner` creates `group` and lets the
    // members in. The clients in that order, for a structured binding:
    //     auto [alice, bob] = in_group("g", "alice", "bob");
    template <typename... Names>
    auto in_group(const std::string& group, const std::string& owner, const Names&... members) {
        std::tuple<Client&, std::conditional_t<true, Client&, Names>...> clients{
            logged_in(owner), logged_in(members)...};
        std::apply(
            [&](Client& first, auto&... rest) {
                make_group(first, group, {&rest...}, {std::string(members)...});
            },
            clients);
        return clients;
    }

    TempDir dir_;
    Tracker tracker_{dir_};
    std::vector<std::unique_ptr<Client>> clients_;
    std::vector<std::string> client_args_;  // given to every new client (use_plain_peer_wire)
};

// The fixture for several trackers on one state: E2eTest's clients, made the same way, with a
// running TrackerSet of `count` trackers in place of its one tracker. `tracker_` is not started:
// the set writes the tracker_info.txt that the clients read, listing every tracker.
class TrackerSetTest : public E2eTest {
protected:
    // `db`: the set's --db value (TrackerSet's default when empty).
    explicit TrackerSetTest(std::size_t count = 2, std::string db = {})
        : trackers_(dir_, count, std::move(db)) {}
    void SetUp() override;

    TrackerSet trackers_;
};

}  // namespace gs::e2e
