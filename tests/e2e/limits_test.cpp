// Limits against a hostile world (issue #5): thousands of idle connections (slowloris) do not
// slow real clients down, and one address cannot hold more than its share of connections.
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

// The tracker's per-address cap (tracker/server.hpp ServerLimits::max_per_address).
constexpr int kPerAddress = 256;

void raise_fd_limit() {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

// A TCP connection to the tracker from `source` (any 127.x.y.z works on Linux loopback) that
// sends nothing.
int idle_connection(const std::string& source, std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Whether the tracker closed `fd` within `wait` (EOF or reset), without sending anything.
bool closed_by_peer(int fd, Duration wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

struct Fds {
    std::vector<int> fds;
    ~Fds() {
        for (int fd : fds) ::close(fd);
    }
};

using LimitsTest = E2eTest;

TEST_F(LimitsTest, TwoThousandIdleConnectionsDoNotSlowRealClientsDown) {
    raise_fd_limit();
    Fds idle;
    for (int i = 0; i < 2000; ++i) {
        const std::string source = "127.0.1." + std::to_string(1 + i / 200);  // 200 per address
        int fd = idle_connection(source, tracker_.port());
        ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
        idle.fds.push_back(fd);
    }
    const auto flood_started = Clock::now();
    // Real users carry on as usual while the 2,000 sit there.
    auto timed = [&](Client& c, const std::string& cmd, const std::string& expected) {
        auto t0 = Clock::now();
        c.must(cmd, expected);
        return std::chrono::duration_cast<Duration>(Clock::now() - t0).count();
    };
    Client& c = new_client();
    EXPECT_LT(timed(c, "create_user alice secret", "user alice created"), 3000);
    EXPECT_LT(timed(c, "login alice secret", "logged in as alice"), 3000);
    EXPECT_LT(timed(c, "create_group g", "group g created; you are its owner"), 1000);
    EXPECT_LT(timed(c, "list_files g", "(no files shared in group g)"), 1000);
    EXPECT_LT(timed(c, "list_groups", "g  owner=alice  members=1  (you are a member)"), 1000);

    // They were held while the users worked (unless that took longer than the handshake
    // timeout), and then the tracker drops every one of them: none ever began a TLS handshake.
    int still_open = 0;
    for (int fd : idle.fds) still_open += closed_by_peer(fd, Duration{0}) ? 0 : 1;
    if (Clock::now() - flood_started < std::chrono::seconds(8)) {
        EXPECT_EQ(still_open, 2000) << "the idle connections should still have been held";
    }
    EXPECT_TRUE(eventually(
        [&] {
            for (int fd : idle.fds) {
                if (!closed_by_peer(fd, Duration{0})) return false;
            }
            return true;
        },
        Duration{20000}))
        << "idle connections should be closed by the 10 s handshake timeout";
    EXPECT_EQ(c.run("list_groups").size(), 1u);
}

// The local port of a connected socket.
std::uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

TEST_F(LimitsTest, OneAddressGetsAtMostItsShareOfConnections) {
    raise_fd_limit();
    Fds held;
    for (int i = 0; i < kPerAddress; ++i) {
        int fd = idle_connection("127.0.2.1", tracker_.port());
        ASSERT_GE(fd, 0);
        held.fds.push_back(fd);
    }
    // Below and at the bound every one is kept; one more from the same address is closed at
    // once, and the tracker says why.
    int over = idle_connection("127.0.2.1", tracker_.port());
    ASSERT_GE(over, 0);
    EXPECT_TRUE(closed_by_peer(over, Duration{3000})) << "connection " << kPerAddress + 1;
    tracker_.process().wait_for_stderr_line(
        "refusing 127\\.0\\.2\\.1:" + std::to_string(local_port(over)) +
        ": 256 connections from 127\\.0\\.2\\.1 already, the limit per address");
    ::close(over);
    for (int fd : held.fds) EXPECT_FALSE(closed_by_peer(fd, Duration{0}));

    // Another address is not affected.
    int other = idle_connection("127.0.2.2", tracker_.port());
    EXPECT_FALSE(closed_by_peer(other, Duration{500}));
    ::close(other);

    // A freed slot can be used again.
    const std::uint16_t freed = local_port(held.fds.back());
    ::close(held.fds.back());
    held.fds.pop_back();
    tracker_.process().wait_for_stderr_line("127\\.0\\.2\\.1:" + std::to_string(freed) +
                                            " closed");
    int again = idle_connection("127.0.2.1", tracker_.port());
    EXPECT_FALSE(closed_by_peer(again, Duration{500})) << "a freed slot should be usable";
    ::close(again);
}

}  // namespace
}  // namespace gs::e2e
