// The client at the terminal and in scripts (issue 14): log lines in client.log in the data
// directory rather than on the terminal (--log-level, --verbose); exit statuses a script can
// use (1 after a failed command, 130 after SIGINT/SIGTERM); exact sizes (list_files --bytes);
// one client per data directory; and `client ctl`, which runs one command in the client running
// on a data directory through its control socket. One test drives the client's prompt through a
// real pseudo-terminal.
#include "tests/e2e/fixtures.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::Each;
using ::testing::IsEmpty;
using ::testing::Not;

// The control socket's name in the data directory and the longest line it takes (README
// "Remote control").
constexpr const char* kControlSocket = "control.sock";
constexpr std::size_t kMaxControlLine = 64 * 1024;

class ScriptingTest : public E2eTest {
protected:
    // A client started without the harness's --verbose, as a user would start it.
    std::unique_ptr<Process> plain_client(const std::string& name,
                                          std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"127.0.0.1:0", tracker_.client_info_path().string(),
                                      "--data-dir", (dir_ / name).string()};
        args.insert(args.end(), extra.begin(), extra.end());
        auto p = std::make_unique<Process>(name, binary_from_env("GS_CLIENT"), std::move(args),
                                           dir_.path());
        return p;
    }

    struct CtlResult {
        ExitStatus status;
        std::vector<std::string> out;
        std::vector<std::string> err;
    };
    // `client ctl --data-dir DIR WORDS...`, run to its end.
    CtlResult ctl(const fs::path& data_dir, std::vector<std::string> words) {
        std::vector<std::string> args{"ctl", "--data-dir", data_dir.string()};
        args.insert(args.end(), words.begin(), words.end());
        Process p("ctl", binary_from_env("GS_CLIENT"), std::move(args), dir_.path());
        ExitStatus status = p.wait_exit();
        p.wait_output_closed();
        return {status, p.stdout_lines(), p.stderr_lines()};
    }

    // A client logged in as alice, in group g, sharing `f.bin` (900000 bytes).
    Client& sharing_alice() {
        Client& alice = logged_in("alice");
        create_group(alice, "g");
        write_file(dir_ / "files" / "f.bin", random_bytes(900000, 7));
        auto shared =
            alice.run("upload_file " + (dir_ / "files" / "f.bin").string() + " g", Duration{60000});
        EXPECT_THAT(shared, ElementsAre(StartsWith("shared f.bin in group g")));
        return alice;
    }
};

TEST_F(ScriptingTest, LogLinesGoToTheLogFileAndNotToTheTerminal) {
    auto c = plain_client("quiet");
    c->wait_for_line(R"(^serving pieces on 127\.0\.0\.1:\d+$)");
    c->send_line("create_user alice secret");
    c->wait_for_line("^user alice created$");
    c->send_line("login alice secret");
    c->wait_for_line("^logged in as alice$");
    c->send_line("quit");
    c->wait_for_line("^bye$");
    EXPECT_TRUE(c->wait_exit().is_clean());
    c->wait_output_closed();
    // The client logged its tracker and the pinned key: in the file, not on stderr or stdout.
    const std::string log = read_file(dir_ / "quiet" / "client.log");
    EXPECT_THAT(log, HasSubstr("client info: using tracker " + tracker_.address()));
    EXPECT_THAT(log, HasSubstr("client info: pinned tracker "));
    EXPECT_THAT(c->stderr_lines(), IsEmpty());
    EXPECT_THAT(c->stdout_lines(), ElementsAre(StartsWith("serving pieces on "),
                                               "user alice created", "logged in as alice", "bye"));
    // The log is the user's alone.
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "quiet" / "client.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ScriptingTest, VerboseAlsoShowsTheLogOnStderrAndLogLevelDropsLowerLevels) {
    Client& c = new_client({"--log-level", "warn"});  // the harness adds --verbose
    c.must("create_user alice secret", "user alice created");
    c.must("login alice secret", "logged in as alice");
    tracker_.kill();
    c.process().wait_for_stderr_line("client warn: lost connection to tracker");
    // "using tracker" and "pinned tracker" are info lines: dropped, from stderr and the file.
    EXPECT_THAT(c.process().stderr_lines(), Each(Not(HasSubstr(" info: "))));
    EXPECT_THAT(c.process().stdout_lines(), Each(Not(HasSubstr(" warn: "))));
    const std::string log = read_file(dir_ / c.name() / "client.log");
    EXPECT_THAT(log, HasSubstr("client warn: lost connection to tracker"));
    EXPECT_THAT(log, Not(HasSubstr(" info: ")));
}

TEST_F(ScriptingTest, AnUnknownLogLevelIsAUsageError) {
    auto c = plain_client("bad", {"--log-level", "loud"});
    ExitStatus status = c->wait_exit();
    EXPECT_TRUE(status.exited && status.code == 2) << status.to_string();
    c->wait_for_stderr_line("^error: unknown log level 'loud'; use error, warn, info or debug$");
}

TEST_F(ScriptingTest, AScriptWithAFailedCommandExitsWithStatusOne) {
    auto c = plain_client("script");
    c->wait_for_line(R"(^serving pieces on )");
    c->send_line("list_groups");               // not logged in: fails
    c->send_line("create_user alice secret");  // a later success does not hide it
    c->close_stdin();
    ExitStatus status = c->wait_exit();
    c->wait_output_closed();
    EXPECT_TRUE(status.exited && status.code == 1) << status.to_string();
    EXPECT_THAT(c->stdout_lines(),
                ElementsAre(StartsWith("serving pieces on "), kNotLoggedIn, "user alice created"));
    EXPECT_THAT(c->stderr_lines(), IsEmpty());
}

TEST_F(ScriptingTest, AScriptWhoseCommandsAllWorkExitsWithStatusZero) {
    auto c = plain_client("script");
    c->wait_for_line(R"(^serving pieces on )");
    c->send_line("create_user alice secret");
    c->send_line("echo done");
    c->close_stdin();
    ExitStatus status = c->wait_exit();
    c->wait_output_closed();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
    EXPECT_THAT(c->stdout_lines(),
                ElementsAre(StartsWith("serving pieces on "), "user alice created", "done"));
}

TEST_F(ScriptingTest, SigintAndSigtermEndTheClientWithStatus130) {
    for (int signo : {SIGINT, SIGTERM}) {
        Client& c = new_client();
        c.must("create_user user" + std::to_string(signo) + " secret",
               "user user" + std::to_string(signo) + " created");
        c.process().signal(signo);
        ExitStatus status = c.process().wait_exit();
        EXPECT_TRUE(status.exited && status.code == 130) << signo << ": " << status.to_string();
    }
}

TEST_F(ScriptingTest, ListFilesBytesGivesExactSizes) {
    Client& alice = sharing_alice();
    EXPECT_THAT(alice.run("list_files g --bytes"),
                ElementsAre("f.bin  900000 B  seeders=1  online=1"));
    EXPECT_THAT(alice.run("list_files g"), ElementsAre("f.bin  878.9 KiB  seeders=1  online=1"));
    EXPECT_THAT(alice.run("list_files g --kib"),
                ElementsAre("error: usage: list_files <group_id> [--bytes]"));
}

TEST_F(ScriptingTest, ASecondClientOnTheSameDataDirectoryFailsNamingTheFirst) {
    Client& first = new_client();
    auto second = plain_client(first.name());
    ExitStatus status = second->wait_exit();
    second->wait_output_closed();
    EXPECT_TRUE(status.exited && status.code == 1) << status.to_string();
    second->wait_for_stderr_line(
        "^error: data directory " + regex_escape((dir_ / first.name()).string()) +
        " is in use by another client \\(PID " + std::to_string(first.process().pid()) + "\\)$");
    EXPECT_THAT(second->stdout_lines(), IsEmpty());
    // The first one is unharmed; once it has quit, the directory is free again.
    first.must("create_user alice secret", "user alice created");
    first.quit();
    auto third = plain_client(first.name());
    third->wait_for_line(R"(^serving pieces on )");
}

TEST_F(ScriptingTest, CtlRunsOneCommandInTheRunningClient) {
    Client& alice = sharing_alice();
    const fs::path data = dir_ / alice.name();

    CtlResult listed = ctl(data, {"list_files", "g"});
    EXPECT_TRUE(listed.status.is_clean()) << listed.status.to_string();
    EXPECT_THAT(listed.out, ElementsAre("f.bin  878.9 KiB  seeders=1  online=1"));
    EXPECT_THAT(listed.err, IsEmpty());

    CtlResult exact = ctl(data, {"list_files", "g", "--bytes"});
    EXPECT_TRUE(exact.status.is_clean()) << exact.status.to_string();
    EXPECT_THAT(exact.out, ElementsAre("f.bin  900000 B  seeders=1  online=1"));

    CtlResult downloads = ctl(data, {"show_downloads"});
    EXPECT_TRUE(downloads.status.is_clean()) << downloads.status.to_string();
    EXPECT_THAT(downloads.out, ElementsAre("(no downloads in this session)"));

    // A failed command: its error line, status 1.
    CtlResult failed = ctl(data, {"list_files", "nosuch"});
    EXPECT_TRUE(failed.status.exited && failed.status.code == 1) << failed.status.to_string();
    ASSERT_EQ(failed.out.size(), 1u);
    EXPECT_THAT(failed.out[0], StartsWith("error: "));
    CtlResult unknown = ctl(data, {"frobnicate"});
    EXPECT_TRUE(unknown.status.exited && unknown.status.code == 1);
    EXPECT_THAT(unknown.out,
                ElementsAre("error: unknown command 'frobnicate'; type help for the list"));

    // No client on a directory: status 2.
    fs::create_directories(dir_ / "empty");
    CtlResult nobody = ctl(dir_ / "empty", {"list_files", "g"});
    EXPECT_TRUE(nobody.status.exited && nobody.status.code == 2) << nobody.status.to_string();
    EXPECT_THAT(nobody.out, ElementsAre("error: no client runs with data directory " +
                                        (dir_ / "empty").string()));

    // The output went to the controller, not to the client's own stdout, and the controller's
    // failures are not the client's: it still quits with status 0.
    alice.must("echo still-here", "still-here");
    for (const auto& line : alice.process().stdout_lines()) {
        EXPECT_THAT(line, Not(HasSubstr("seeders=")));
        EXPECT_THAT(line, Not(StartsWith("error: ")));
    }
    // The socket is the user's alone.
    struct stat st {};
    ASSERT_EQ(::stat((data / kControlSocket).c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    alice.quit();
    EXPECT_FALSE(fs::exists(data / kControlSocket)) << "the socket outlived its client";
    CtlResult after = ctl(data, {"show_downloads"});
    EXPECT_TRUE(after.status.exited && after.status.code == 2) << after.status.to_string();
}

TEST_F(ScriptingTest, CtlQuitEndsTheClient) {
    Client& c = new_client();
    CtlResult bye = ctl(dir_ / c.name(), {"quit"});
    EXPECT_TRUE(bye.status.is_clean()) << bye.status.to_string();
    EXPECT_THAT(bye.out, ElementsAre("bye"));
    ExitStatus status = c.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

// A raw connection to a client's control socket.
class RawControl {
public:
    explicit RawControl(const fs::path& data_dir) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        // Through an open descriptor of the directory: a temp dir's path may be longer than
        // sun_path's 108 bytes.
        dir_fd_ = ::open(data_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string path =
            "/proc/self/fd/" + std::to_string(dir_fd_) + "/" + std::string(kControlSocket);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~RawControl() {
        ::close(fd_);
        ::close(dir_fd_);
    }
    RawControl(const RawControl&) = delete;
    RawControl& operator=(const RawControl&) = delete;

    bool connected() const { return connected_; }
    // Writes what it can of `bytes` (false once the client has closed).
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Everything until the client closes; "(timeout)" after `timeout`.
    std::string read_all(Duration timeout = kDefaultTimeout) {
        std::string got;
        const auto deadline = Clock::now() + timeout;
        while (true) {
            const auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
            if (left.count() <= 0) return got + "(timeout)";
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return got;
            got.append(buf, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    int dir_fd_ = -1;
    bool connected_ = false;
};

TEST_F(ScriptingTest, TheControlSocketBoundsWhatAConnectionSendsAndHowManyAreOpen) {
    Client& c = new_client();
    const fs::path data = dir_ / c.name();
    {
        // One line of at most 64 KiB: a longer one is refused without running anything.
        RawControl big(data);
        ASSERT_TRUE(big.connected());
        big.send(std::string(kMaxControlLine + 1, 'x'));
        EXPECT_EQ(big.read_all(), "o error: command longer than 65536 bytes\ns 1\n");
    }
    // Eight connections at once; a ninth is told so and closed.
    std::vector<std::unique_ptr<RawControl>> idle;
    for (int i = 0; i < 8; ++i) {
        idle.push_back(std::make_unique<RawControl>(data));
        ASSERT_TRUE(idle.back()->connected());
    }
    {
        RawControl ninth(data);
        ASSERT_TRUE(ninth.connected());
        EXPECT_EQ(ninth.read_all(),
                  "o error: too many control connections (at most 8); try again\ns 1\n");
    }
    // One of the eight sends its line and gets its answer.
    ASSERT_TRUE(idle[0]->send("echo hello\n"));
    EXPECT_EQ(idle[0]->read_all(), "o hello\ns 0\n");
    idle.clear();
    // The client typed at is unaffected.
    c.must("echo typed", "typed");
    EXPECT_EQ(ctl(data, {"echo", "again"}).out, std::vector<std::string>{"again"});
}

// A client whose stdin, stdout and stderr are a pseudo-terminal, as in a terminal window: what
// it writes is kept as raw bytes (escape sequences and all).
class PtyClient {
public:
    PtyClient(std::vector<std::string> args, std::source_location where) {
        pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);
        if (pid_ < 0) fail_with_dump("forkpty failed", where);
        if (pid_ == 0) {
            ::setenv("TERM", "xterm", 1);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~PtyClient() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(master_);
    }
    PtyClient(const PtyClient&) = delete;
    PtyClient& operator=(const PtyClient&) = delete;

    void type(std::string_view keys) {
        [[maybe_unused]] auto n = ::write(master_, keys.data(), keys.size());
    }
    // Reads until `text` appears after the read position, moves past it and returns what came
    // before it; fails the test (showing everything read) after `timeout`.
    std::string wait_for(std::string_view text,
                         std::source_location where = std::source_location::current()) {
        const auto deadline = Clock::now() + kDefaultTimeout;
        while (true) {
            if (auto at = seen_.find(text, cursor_); at != std::string::npos) {
                std::string before = seen_.substr(cursor_, at - cursor_);
                cursor_ = at + text.size();
                return before;
            }
            const auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
            pollfd p{master_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) < 0) break;
            if (p.revents == 0) continue;
            char buf[4096];
            ssize_t n = ::read(master_, buf, sizeof buf);
            if (n <= 0) break;  // the client ended
            seen_.append(buf, static_cast<std::size_t>(n));
        }
        fail_with_dump(
            "the terminal never showed '" + std::string(text) + "'; it showed:\n" + seen_, where);
    }
    int wait_exit_code() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    const std::string& everything() const { return seen_; }

private:
    int master_ = -1;
    pid_t pid_ = -1;
    bool reaped_ = false;
    std::string seen_;
    std::size_t cursor_ = 0;
};

class PromptTest : public TrackerSetTest {};

// A message for the user while they type (here: the tracker fail-over) is printed above the
// prompt, which comes back with the half-typed line; no log line reaches the terminal.
TEST_F(PromptTest, AMessageIsPrintedAboveThePromptWhichIsRedrawnWithTheTypedText) {
    ScopedEnv file_order("GS_TRACKER_SEED", "file");  // tracker 1 first
    const fs::path data = dir_ / "tty";
    PtyClient c({binary_from_env("GS_CLIENT"), "127.0.0.1:0", trackers_.client_info_path().string(),
                 "--data-dir", data.string()},
                std::source_location::current());
    c.wait_for("serving pieces on 127.0.0.1:");
    c.wait_for("groupshare> ");
    ASSERT_TRUE(eventually([&] {
        return read_file(data / "client.log").find("using tracker " + trackers_[0].address()) !=
               std::string::npos;
    })) << "the client never said it uses the first tracker";
    c.type("list_gr");
    c.wait_for("list_gr");
    trackers_[0].kill();
    c.wait_for("tracker " + trackers_[0].address() + " lost; now using " + trackers_[1].address());
    c.wait_for("groupshare> list_gr");  // redrawn, with what was typed
    c.type("oups\r");
    c.wait_for(kNotLoggedIn);
    c.type("quit\r");
    c.wait_for("bye");
    // On a terminal the status does not count failed commands.
    EXPECT_EQ(c.wait_exit_code(), 0);
    EXPECT_THAT(c.everything(), Not(HasSubstr(" warn: ")));
    EXPECT_THAT(c.everything(), Not(HasSubstr(" info: ")));
    EXPECT_THAT(read_file(data / "client.log"),
                HasSubstr("client warn: lost connection to tracker"));
}

}  // namespace
}  // namespace gs::e2e
