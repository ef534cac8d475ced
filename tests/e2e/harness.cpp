#include "tests/e2e/harness.hpp"

#include "tests/pg_cluster.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <utility>

extern char** environ;

namespace gs::e2e {

namespace {

constexpr std::size_t kDumpTailLines = 80;  // per stream, so 200 clients still fit a message

// Writing to the stdin of a child that has died must not kill the test binary.
const bool kSigpipeIgnored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}();

std::atomic<bool> g_dumped{false};  // this test's failure message already holds the dump
std::mutex g_registry_mu;
std::vector<Process*> g_registry;  // live processes, in start order

std::string errno_text() {
    return std::strerror(errno);
}

std::string location(std::source_location where) {
    return std::string(where.file_name()) + ":" + std::to_string(where.line());
}

std::string quote_arg(const std::string& a) {
    if (!a.empty() && a.find_first_of(" \t'\"") == std::string::npos) return a;
    return "'" + a + "'";
}

std::string tail(const std::vector<std::string>& lines, const std::string& indent) {
    std::string out;
    std::size_t from = lines.size() > kDumpTailLines ? lines.size() - kDumpTailLines : 0;
    if (from > 0) out += indent + "... (" + std::to_string(from) + " earlier lines)\n";
    for (std::size_t i = from; i < lines.size(); ++i) out += indent + lines[i] + "\n";
    return out;
}

std::uint16_t parse_port(const std::string& addr) {
    return static_cast<std::uint16_t>(std::stoul(addr.substr(addr.rfind(':') + 1)));
}

}  // namespace

std::string regex_escape(std::string_view text) {
    static const std::string kSpecial = R"(\^$.|?*+()[]{})";
    std::string out;
    for (char c : text) {
        if (kSpecial.find(c) != std::string::npos) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
        std::uint64_t v = rng();
        for (std::size_t j = 0; j < 8 && i + j < n; ++j) {
            out[i + j] = static_cast<char>(v >> (8 * j));
        }
    }
    return out;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- failures ----

void fail_with_dump(const std::string& what, std::source_location where, Process* focus) {
    g_dumped = true;
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << what << "\n\n"
                                                                      << dump_all_processes(focus);
    throw TestAborted(what + " (at " + location(where) + "; output of every process above)");
}

std::string dump_all_processes(Process* focus) {
    std::lock_guard lock(g_registry_mu);
    std::string out =
        "==== captured output of " + std::to_string(g_registry.size()) + " process(es) ====\n";
    std::string summaries;
    for (std::size_t i = 0; i < g_registry.size(); ++i) {
        Process* p = g_registry[i];
        if (i < kDumpFullProcesses || p == focus) {
            out += p->describe();
        } else {
            summaries += p->summarize();
        }
    }
    if (!summaries.empty()) out += "---- the other processes, in short:\n" + summaries;
    return out;
}

std::string binary_from_env(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        fail_with_dump(std::string(name) + " is not set; run the e2e tests with `meson test`",
                       std::source_location::current());
    }
    return value;
}

// ---- TempDir ----

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/gs-e2e-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp " + pattern + ": " + errno_text());
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    const char* keep = std::getenv("GS_E2E_KEEP_TMP");
    if (keep != nullptr && std::string(keep) == "1") return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

// ---- ExitStatus ----

std::string ExitStatus::to_string() const {
    if (exited) return "exit " + std::to_string(code);
    return std::string("killed by signal ") + std::to_string(signal) + " (" + ::strsignal(signal) +
           ")";
}

// ---- Process ----

Process::Process(std::string name, std::string binary, std::vector<std::string> args,
                 std::filesystem::path cwd)
    : name_(std::move(name)) {
    (void)kSigpipeIgnored;
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe2: " + errno_text());
    }

    std::vector<std::string> argv_strings;
    argv_strings.push_back(binary);
    for (auto& a : args) argv_strings.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_strings) {
        argv.push_back(a.data());
        command_line_ += (command_line_.empty() ? "" : " ") + quote_arg(a);
    }
    argv.push_back(nullptr);

    // posix_spawn rather than fork: the test binary has threads (one reader per process).
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults, empty;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setpgroup(&attr, 0);  // its own process group, killed as a whole
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        throw std::runtime_error("cannot start " + command_line_ + ": " + std::strerror(rc));
    }
    stdin_fd_ = in_pipe[1];
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // -1 on old kernels: polled
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    reader_ = std::thread([this, out = out_pipe[0], err = err_pipe[0]] { reader_main(out, err); });

    std::lock_guard lock(g_registry_mu);
    g_registry.push_back(this);
}

Process::~Process() {
    {
        std::lock_guard lock(g_registry_mu);
        std::erase(g_registry, this);
    }
    if (!exit_) {
        // Not reaped yet, so the group id cannot have been reused.
        ::kill(-pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) < 0) {
        // The reader also ends on its own once both pipes reach EOF.
    }
    if (reader_.joinable()) reader_.join();
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (pidfd_ >= 0) ::close(pidfd_);
    ::close(wake_fd_);
}

void Process::reader_main(int out_fd, int err_fd) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int open_streams = 2;
    char buf[65536];
    while (open_streams > 0) {
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[2].revents != 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            std::lock_guard lock(mu_);
            Stream& s = i == 0 ? out_ : err_;
            if (n > 0) {
                take_bytes(s, buf, static_cast<std::size_t>(n));
            } else {
                if (!s.partial.empty()) s.lines.push_back(std::move(s.partial));
                s.partial.clear();
                s.closed = true;
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_streams;
            }
            changed_.notify_all();
        }
    }
    for (int i = 0; i < 2; ++i) {
        if (fds[i].fd >= 0) ::close(fds[i].fd);
    }
    std::lock_guard lock(mu_);
    out_.closed = err_.closed = true;
    changed_.notify_all();
}

void Process::take_bytes(Stream& s, const char* data, std::size_t n) {
    s.partial.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        s.lines.push_back(s.partial.substr(start, nl - start));
    }
    s.partial.erase(0, start);
}

void Process::send_line(std::string_view line) {
    std::string data(line);
    data.push_back('\n');
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(stdin_fd_, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail_with_dump("cannot write '" + std::string(line) + "' to " + name_ +
                               "'s stdin: " + errno_text(),
                           std::source_location::current(), this);
        }
        done += static_cast<std::size_t>(n);
    }
}

void Process::close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
}

std::optional<std::size_t> Process::wait_in(Stream Process::*stream, const std::regex& re,
                                            Duration timeout) {
    auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mu_);
    Stream& s = this->*stream;
    while (true) {
        for (; s.cursor < s.lines.size(); ++s.cursor) {
            if (std::regex_search(s.lines[s.cursor], re)) return s.cursor++;
        }
        if (s.closed) return std::nullopt;
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            // One last look: lines may have arrived with the timeout.
            for (; s.cursor < s.lines.size(); ++s.cursor) {
                if (std::regex_search(s.lines[s.cursor], re)) return s.cursor++;
            }
            return std::nullopt;
        }
    }
}

std::string Process::wait_error(Stream Process::*stream, const std::string& pattern,
                                Duration timeout) const {
    std::lock_guard lock(mu_);
    bool closed = (this->*stream).closed;
    const char* what = stream == &Process::out_ ? "stdout" : "stderr";
    return name_ + ": no " + what + " line matching /" + pattern + "/ " +
           (closed ? "before the stream closed"
                   : "within " + std::to_string(timeout.count()) + " ms");
}

std::size_t Process::wait_or_fail(Stream Process::*stream, const std::string& pattern,
                                  Duration timeout, std::source_location where) {
    auto index = wait_in(stream, std::regex(pattern), timeout);
    if (!index) fail_with_dump(wait_error(stream, pattern, timeout), where, this);
    return *index;
}

std::string Process::wait_line(Stream Process::*stream, const std::string& pattern,
                               Duration timeout, std::source_location where) {
    const std::size_t index = wait_or_fail(stream, pattern, timeout, where);
    std::lock_guard lock(mu_);
    return (this->*stream).lines[index];
}

std::string Process::wait_for_line(const std::string& pattern, Duration timeout,
                                   std::source_location where) {
    return wait_line(&Process::out_, pattern, timeout, where);
}

std::vector<std::string> Process::read_until(const std::string& pattern, Duration timeout,
                                             std::source_location where) {
    std::size_t from;
    {
        std::lock_guard lock(mu_);
        from = out_.cursor;
    }
    const std::size_t index = wait_or_fail(&Process::out_, pattern, timeout, where);
    std::lock_guard lock(mu_);
    return {out_.lines.begin() + static_cast<std::ptrdiff_t>(from),
            out_.lines.begin() + static_cast<std::ptrdiff_t>(index)};
}

std::string Process::wait_for_stderr_line(const std::string& pattern, Duration timeout,
                                          std::source_location where) {
    return wait_line(&Process::err_, pattern, timeout, where);
}

std::vector<std::string> Process::stdout_lines() const {
    std::lock_guard lock(mu_);
    return out_.lines;
}

std::vector<std::string> Process::stderr_lines() const {
    std::lock_guard lock(mu_);
    return err_.lines;
}

void Process::signal(int signo) {
    if (exit_) return;  // reaped: the pid may belong to someone else now
    ::kill(pid_, signo);
}

std::optional<ExitStatus> Process::poll_exit() {
    if (exit_) return exit_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r != pid_) return std::nullopt;
    ExitStatus e;
    if (WIFEXITED(status)) {
        e.exited = true;
        e.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        e.signal = WTERMSIG(status);
    }
    exit_ = e;
    return exit_;
}

void Process::wait_output_closed(Duration timeout, std::source_location where) {
    std::unique_lock lock(mu_);
    if (changed_.wait_for(lock, timeout, [this] { return out_.closed && err_.closed; })) return;
    lock.unlock();
    fail_with_dump(
        name_ + ": stdout and stderr still open after " + std::to_string(timeout.count()) + " ms",
        where, this);
}

ExitStatus Process::wait_exit(Duration timeout, std::source_location where) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        if (auto e = poll_exit()) return *e;
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (left.count() <= 0) break;
        if (pidfd_ >= 0) {
            pollfd p{pidfd_, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));  // readable once the child ends
        } else {
            ::poll(nullptr, 0, 5);  // no pidfd: poll the condition
        }
    }
    fail_with_dump(name_ + " did not exit within " + std::to_string(timeout.count()) + " ms", where,
                   this);
}

std::string Process::describe() {
    poll_exit();
    std::lock_guard lock(mu_);
    std::string out = "---- " + name_ + " (pid " + std::to_string(pid_) + ", " +
                      (exit_ ? exit_->to_string() : std::string("running")) +
                      "): " + command_line_ + "\n";
    if (out_.lines.empty() && out_.partial.empty() && err_.lines.empty() && err_.partial.empty()) {
        return out + "  (no output)\n";
    }
    out += "  stdout:\n" + tail(out_.lines, "    ");
    if (!out_.partial.empty()) out += "    " + out_.partial + "  (no newline yet)\n";
    out += "  stderr:\n" + tail(err_.lines, "    ");
    if (!err_.partial.empty()) out += "    " + err_.partial + "  (no newline yet)\n";
    return out;
}

std::string Process::summarize() {
    poll_exit();
    std::lock_guard lock(mu_);
    std::string out = "  " + name_ + " (pid " + std::to_string(pid_) + ", " +
                      (exit_ ? exit_->to_string() : std::string("running")) +
                      "): " + std::to_string(out_.lines.size()) + " stdout lines, " +
                      std::to_string(err_.lines.size()) + " stderr lines";
    if (!out_.lines.empty()) out += "; last: " + out_.lines.back();
    return out + "\n";
}

// ---- the database ----

bool on_postgres() {
    const char* db = std::getenv("GS_TEST_DB");
    return db != nullptr && std::string_view(db) == "postgresql";
}

std::string fresh_pg_database(std::source_location where) {
    auto uri = test::PgTestCluster::get().fresh_database();
    if (!uri) fail_with_dump("no PostgreSQL database for the test: " + uri.error().message, where);
    return std::move(uri).value();
}

void stop_postgres(std::source_location where) {
    if (auto s = test::PgTestCluster::get().stop_server(); !s) {
        fail_with_dump("cannot stop PostgreSQL: " + s.error().message, where);
    }
}

void start_postgres(std::source_location where) {
    if (auto s = test::PgTestCluster::get().start_server(); !s) {
        fail_with_dump("cannot start PostgreSQL: " + s.error().message, where);
    }
}

namespace {

// The --db value of a tracker (or set) the test gave none.
std::string default_database(const TempDir& dir) {
    return on_postgres() ? fresh_pg_database() : (dir / "tracker.db").string();
}

}  // namespace

// ---- Tracker ----

Tracker::Tracker(const TempDir& dir)
    : dir_(dir),
      own_info_(dir / "tracker_info.txt"),
      client_info_(dir / "clients_tracker_info.txt") {}

Tracker::Tracker(const TempDir& dir, int number, std::string db, std::filesystem::path own_info,
                 std::filesystem::path client_info)
    : dir_(dir),
      number_(number),
      in_set_(true),
      own_info_(std::move(own_info)),
      client_info_(std::move(client_info)),
      db_(std::move(db)) {}

void Tracker::launch(const std::filesystem::path& info) {
    if (current_) {
        if (!current_->poll_exit()) {
            fail_with_dump("the tracker was started again while still running",
                           std::source_location::current());
        }
        ended_.push_back(std::move(current_));
    }
    ++generation_;
    const std::string base = in_set_ ? "tracker" + std::to_string(number_) : "tracker";
    std::string name = generation_ == 1 ? base : base + "#" + std::to_string(generation_);
    if (db_.empty()) db_ = default_database(dir_);
    std::vector<std::string> args{info.string(), std::to_string(number_), "--db", db_};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    current_ = std::make_unique<Process>(name, binary_from_env("GS_TRACKER"), std::move(args),
                                         dir_.path());
    std::string line = current_->wait_for_line("^tracker " + std::to_string(number_) +
                                               R"( listening on 127\.0\.0\.1:\d+ )");
    std::smatch m;
    std::regex_search(line, m, std::regex(R"(127\.0\.0\.1:(\d+))"));
    std::uint16_t bound = static_cast<std::uint16_t>(std::stoul(m[1].str()));
    std::smatch fp;
    if (!std::regex_search(line, fp, std::regex(R"(fingerprint (sha256:[0-9a-f]{64})\))"))) {
        fail_with_dump("the tracker's start line has no fingerprint: " + line,
                       std::source_location::current());
    }
    fingerprint_ = fp[1].str();
    if (port_ != 0 && bound != port_) {
        fail_with_dump("the restarted tracker bound port " + std::to_string(bound) + ", not " +
                           std::to_string(port_),
                       std::source_location::current());
    }
    port_ = bound;
}

void Tracker::start() {
    if (!in_set_) write_file(own_info_, "127.0.0.1:0\n");
    launch(own_info_);
    // Only now do the clients learn where the tracker is (docs/ARCHITECTURE.md, habit 7).
    if (!in_set_) write_file(client_info_, address() + "\n");
}

void Tracker::restart() {
    launch(client_info_);
}

void Tracker::kill() {
    current_->signal(SIGKILL);
    ExitStatus e = current_->wait_exit();
    EXPECT_FALSE(e.exited) << "tracker: " << e.to_string();
}

void Tracker::quit() {
    current_->send_line("quit");
    ExitStatus e = current_->wait_exit();
    EXPECT_TRUE(e.is_clean()) << "tracker after quit: " << e.to_string();
}

std::string Tracker::files_base() const {
    if (db_.rfind("postgresql://", 0) != 0) return db_;
    return (dir_ / ("groupshare-tracker-" + std::to_string(number_))).string();
}

std::string Tracker::address() const {
    return "127.0.0.1:" + std::to_string(port_);
}

// ---- TrackerSet ----

TrackerSet::TrackerSet(const TempDir& dir, std::size_t count, std::string db)
    : own_info_(dir / "trackers_info.txt"),
      client_info_(dir / "clients_tracker_info.txt"),
      db_(db.empty() ? default_database(dir) : std::move(db)) {
    for (std::size_t i = 0; i < count; ++i) {
        trackers_.push_back(
            std::make_unique<Tracker>(dir, static_cast<int>(i + 1), db_, own_info_, client_info_));
    }
}

void TrackerSet::start() {
    std::string own;
    for (std::size_t i = 0; i < trackers_.size(); ++i) own += "127.0.0.1:0\n";
    write_file(own_info_, own);
    for (auto& t : trackers_) t->start();
    // Only now do the clients learn where the trackers are (docs/ARCHITECTURE.md, habit 7).
    std::string listed;
    for (auto& t : trackers_) listed += t->address() + "\n";
    write_file(client_info_, listed);
}

std::size_t TrackerSet::index_of(const std::string& address, std::source_location where) const {
    for (std::size_t i = 0; i < trackers_.size(); ++i) {
        if (trackers_[i]->address() == address) return i;
    }
    fail_with_dump("no tracker of the set listens on " + address, where);
}

// ---- Client ----

Client::Client(const TempDir& dir, const Tracker& tracker, std::string name,
               std::vector<std::string> extra_args)
    : Client(dir, tracker.client_info_path(), std::move(name), std::move(extra_args)) {}

Client::Client(const TempDir& dir, const std::filesystem::path& tracker_info, std::string name,
               std::vector<std::string> extra_args)
    : name_(std::move(name)) {
    // --verbose: the tests read the client's log lines on its stderr.
    std::vector<std::string> args{"127.0.0.1:0", tracker_info.string(), "--data-dir",
                                  (dir / name_).string(), "--verbose"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_ =
        std::make_unique<Process>(name_, binary_from_env("GS_CLIENT"), std::move(args), dir.path());
    std::string line = process_->wait_for_line(R"(^serving pieces on 127\.0\.0\.1:\d+$)");
    listen_ = line.substr(line.rfind(' ') + 1);
    (void)parse_port(listen_);
}

PendingCommand Client::send(std::string_view command) {
    PendingCommand p{std::string(command), "__sync_" + std::to_string(next_marker_++) + "__"};
    process_->send_line(command);
    process_->send_line("echo " + p.marker);
    return p;
}

std::vector<std::string> Client::collect(const PendingCommand& pending, Duration timeout,
                                         std::source_location where) {
    return process_->read_until("^" + regex_escape(pending.marker) + "$", timeout, where);
}

std::vector<std::string> Client::run(std::string_view command, Duration timeout,
                                     std::source_location where) {
    return collect(send(command), timeout, where);
}

std::string Client::run_one(std::string_view command, Duration timeout,
                            std::source_location where) {
    auto lines = run(command, timeout, where);
    if (lines.size() != 1) {
        std::string all;
        for (auto& l : lines) all += "\n  " + l;
        fail_with_dump(name_ + ": '" + std::string(command) + "' printed " +
                           std::to_string(lines.size()) + " lines, expected one:" + all,
                       where, process_.get());
    }
    return lines.front();
}

void Client::must(std::string_view command, std::string_view expected, std::source_location where) {
    auto lines = run(command, kDefaultTimeout, where);
    if (lines.size() == 1 && lines.front() == expected) return;
    std::string all;
    for (auto& l : lines) all += "\n  " + l;
    fail_with_dump(name_ + ": '" + std::string(command) + "' should print '" +
                       std::string(expected) + "' but printed:" + all,
                   where, process_.get());
}

void create_group(Client& owner, const std::string& group, std::source_location where) {
    owner.must("create_group " + group, "group " + group + " created; you are its owner", where);
}

void ask_to_join(Client& member, const std::string& group, std::source_location where) {
    member.must("join_group " + group, "join request sent to the owner of group " + group, where);
}

void accept_request(Client& owner, const std::string& group, const std::string& user,
                    std::source_location where) {
    owner.must("accept_request " + group + " " + user, user + " is now a member of group " + group,
               where);
}

void join_group(Client& owner, Client& member, const std::string& user, const std::string& group,
                std::source_location where) {
    ask_to_join(member, group, where);
    accept_request(owner, group, user, where);
}

void make_group(Client& owner, const std::string& group, const std::vector<Client*>& members,
                const std::vector<std::string>& users, std::source_location where) {
    create_group(owner, group, where);
    for (std::size_t i = 0; i < members.size(); ++i) {
        join_group(owner, *members[i], users[i], group, where);
    }
}

void Client::quit() {
    process_->send_line("quit");
    process_->wait_for_line("^bye$");
    ExitStatus e = process_->wait_exit();
    process_->wait_output_closed();
    // Its stdin is a pipe: the status says whether any command failed (README "Scripting").
    bool failed = false;
    for (const auto& line : process_->stdout_lines())
        failed = failed || line.starts_with("error: ");
    EXPECT_TRUE(e.exited && e.code == (failed ? 1 : 0))
        << name_ << " after quit: " << e.to_string() << (failed ? " (a command failed)" : "");
}

// ---- E2eTest ----

void E2eTest::SetUp() {
    g_dumped = false;
    tracker_.start();
}

void E2eTest::TearDown() {
    if (HasFailure() && !g_dumped) std::cout << dump_all_processes() << std::flush;
}

Client& E2eTest::new_client(std::vector<std::string> extra_args) {
    std::string name = "client" + std::to_string(clients_.size() + 1);
    std::vector<std::string> args = client_args_;
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    clients_.push_back(std::make_unique<Client>(dir_, tracker_, name, std::move(args)));
    return *clients_.back();
}

Client& E2eTest::logged_in(const std::string& user, const std::string& password,
                           std::source_location where) {
    Client& c = new_client();
    c.must("create_user " + user + " " + password, "user " + user + " created", where);
    c.must("login " + user + " " + password, "logged in as " + user, where);
    return c;
}

// ---- TrackerSetTest ----

void TrackerSetTest::SetUp() {
    g_dumped = false;
    if (trackers_.client_info_path() != tracker_.client_info_path()) {
        fail_with_dump("the tracker set writes its clients' tracker_info.txt elsewhere",
                       std::source_location::current());
    }
    trackers_.start();
}

// ---- helpers ----

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
    ::setenv(name, value, 1);
}

ScopedEnv::~ScopedEnv() {
    ::unsetenv(name_);
}

bool eventually(const std::function<bool()>& condition, Duration timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        if (condition()) return true;
        if (Clock::now() >= deadline) return false;
        ::poll(nullptr, 0, 10);  // the poll interval of a condition with a deadline
    }
}

int count_open_sockets(pid_t pid) {
    int count = 0;
    std::error_code ec;
    std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        std::error_code link_ec;
        auto target = std::filesystem::read_symlink(entry.path(), link_ec);
        if (!link_ec && target.string().rfind("socket:", 0) == 0) ++count;
    }
    return count;
}

// ---- RawConnection ----

RawConnection::RawConnection(const std::string& host, std::uint16_t port, Transport transport,
                             const std::string& source, std::source_location where) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && !source.empty()) {
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
            fail_with_dump("raw connection: cannot bind " + source + ": " + errno_text(), where);
        }
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        fail_with_dump("raw connect to " + host + ":" + std::to_string(port) + ": " + errno_text(),
                       where);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (transport == Transport::Plain) return;

    // TLS: a non-blocking socket under OpenSSL, every call waited on with a deadline.
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr || SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION) != 1) {
        fail_with_dump("raw connection: cannot make a TLS context", where);
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
        fail_with_dump("raw connection: cannot make a TLS session", where);
    }
    SSL_set_connect_state(ssl_);
    int err = tls_call([this] { return SSL_do_handshake(ssl_); }, Clock::now() + kDefaultTimeout,
                       "TLS handshake", where);
    if (err != SSL_ERROR_NONE) {
        char text[256] = "no error queued";
        if (unsigned long code = ERR_get_error(); code != 0) {
            ERR_error_string_n(code, text, sizeof text);
        }
        fail_with_dump("raw connection: TLS handshake with " + host + ":" + std::to_string(port) +
                           " failed: " + text,
                       where);
    }
}

RawConnection::~RawConnection() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
}

int RawConnection::tls_call(const std::function<int()>& call, Clock::time_point deadline,
                            const char* what, std::source_location where) {
    while (true) {
        ERR_clear_error();
        int r = call();
        if (r > 0) return SSL_ERROR_NONE;
        int err = SSL_get_error(ssl_, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return err;
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (left.count() <= 0) {
            fail_with_dump(std::string("raw connection: ") + what + " did not finish in time",
                           where);
        }
        pollfd p{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

std::string bencode_string_field(std::string_view reply, std::string_view key) {
    std::string needle = std::to_string(key.size()) + ":" + std::string(key);
    auto at = reply.find(needle);
    if (at == std::string_view::npos) return "";
    std::size_t pos = at + needle.size();
    std::size_t colon = reply.find(':', pos);
    if (colon == std::string_view::npos) return "";
    std::size_t length = 0;
    for (std::size_t i = pos; i < colon; ++i) {
        if (reply[i] < '0' || reply[i] > '9') return "";
        length = length * 10 + static_cast<std::size_t>(reply[i] - '0');
    }
    if (colon + 1 + length > reply.size()) return "";
    return std::string(reply.substr(colon + 1, length));
}

std::string raw_login(RawConnection& raw, const std::string& user, const std::string& password,
                      std::source_location where) {
    raw.send_frame(Bencode::dict({{"op", Bencode::str("login")},
                                  {"seq", Bencode::integer(1)},
                                  {"user", Bencode::str(user)},
                                  {"password", Bencode::str(password)},
                                  {"listen", Bencode::str("127.0.0.1:1")}}));
    auto reply = raw.read_frame(kDefaultTimeout, where);
    if (!reply || reply->find("2:oki1e") == std::string::npos) {
        fail_with_dump("raw login as " + user + " failed: " + reply.value_or("(closed)"), where);
    }
    return bencode_string_field(*reply, "token");
}

// ---- RawSession ----

std::string RawSession::request(const std::string& op, Args args) {
    const std::int64_t seq = next_seq_++;
    args.emplace_back("op", Bencode::str(op));
    args.emplace_back("seq", Bencode::integer(seq));
    conn_.send_frame(Bencode::dict(std::move(args)));
    const std::string tag = "3:seqi" + std::to_string(seq) + "e";
    for (;;) {
        auto reply = conn_.read_frame();
        if (!reply) return "(connection closed)";
        if (reply->find(tag) != std::string::npos) return *reply;
    }
}

void RawSession::login(const std::string& user, const std::string& listen, bool create) {
    const Args creds{{"user", Bencode::str(user)}, {"password", Bencode::str("secret")}};
    if (create) {
        ASSERT_THAT(request("create_user", creds), ::testing::HasSubstr("2:oki1e"));
    }
    Args args = creds;
    args.emplace_back("listen", Bencode::str(listen));
    ASSERT_THAT(request("login", args), ::testing::HasSubstr("2:oki1e"));
}

void RawConnection::send_bytes(std::string_view bytes) {
    if (ssl_ != nullptr) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            std::size_t n = 0;
            int err = tls_call(
                [&] { return SSL_write_ex(ssl_, bytes.data() + done, bytes.size() - done, &n); },
                Clock::now() + kDefaultTimeout, "TLS write", std::source_location::current());
            if (err != SSL_ERROR_NONE) {
                fail_with_dump("raw send over TLS failed (SSL error " + std::to_string(err) + ")",
                               std::source_location::current());
            }
            done += n;
        }
        return;
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail_with_dump("raw send: " + errno_text(), std::source_location::current());
        }
        done += static_cast<std::size_t>(n);
    }
}

void RawConnection::send_frame(std::string_view body) {
    std::uint32_t len = htonl(static_cast<std::uint32_t>(body.size()));
    std::string frame(reinterpret_cast<const char*>(&len), sizeof len);
    frame += body;
    send_bytes(frame);
}

bool RawConnection::read_more(Clock::time_point deadline, std::source_location where) {
    if (ssl_ != nullptr) {
        char buf[65536];
        std::size_t n = 0;
        int err = tls_call([&] { return SSL_read_ex(ssl_, buf, sizeof buf, &n); }, deadline,
                           "read (nothing arrived in time)", where);
        if (err != SSL_ERROR_NONE) return false;  // close_notify, EOF or reset
        buffer_.append(buf, n);
        return true;
    }
    while (true) {
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (left.count() <= 0) fail_with_dump("raw connection: nothing arrived in time", where);
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            buffer_.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;  // EOF, or reset
    }
}

std::optional<std::string> RawConnection::read_frame(Duration timeout, std::source_location where) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        if (buffer_.size() >= 4) {
            std::uint32_t len;
            std::memcpy(&len, buffer_.data(), 4);
            len = ntohl(len);
            if (buffer_.size() >= 4 + static_cast<std::size_t>(len)) {
                std::string body = buffer_.substr(4, len);
                buffer_.erase(0, 4 + static_cast<std::size_t>(len));
                return body;
            }
        }
        if (!read_more(deadline, where)) return std::nullopt;
    }
}

bool RawConnection::wait_closed(Duration timeout, std::source_location where) {
    auto deadline = Clock::now() + timeout;
    while (buffer_.empty()) {
        if (!read_more(deadline, where)) return true;
    }
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "raw connection: " << buffer_.size() << " unexpected byte(s) before the close";
    return false;
}

std::string RawConnection::read_until_closed(Duration timeout, std::source_location where) {
    auto deadline = Clock::now() + timeout;
    while (read_more(deadline, where)) {
    }
    return std::exchange(buffer_, std::string());
}

// ---- Bencode ----

std::string Bencode::str(std::string_view s) {
    return std::to_string(s.size()) + ":" + std::string(s);
}

std::string Bencode::integer(std::int64_t i) {
    return "i" + std::to_string(i) + "e";
}

std::string Bencode::dict(std::vector<std::pair<std::string, std::string>> entries) {
    std::sort(entries.begin(), entries.end());
    std::string out = "d";
    for (auto& [k, v] : entries) out += str(k) + v;
    return out + "e";
}

}  // namespace gs::e2e
