// Limits against a hostile world (issue #5): thousands of idle connections (slowloris) do not
// slow real clients down, one address cannot hold more than its share of the tracker's
// connections, a request's nesting and item count are bounded, a client's input lines are
// bounded, and its uploader bounds the peers it serves and how long they may take to say their
// BEP 3 handshake.
#include "tests/e2e/harness.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

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
    return connect_from(source, port);
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
    // How many of them the other end has closed by now.
    int closed() const;
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
    // Real users carry on as usual while the 2,000 sit there.
    Client& c = new_client();
    c.must("create_user alice secret", "user alice created");
    c.must("login alice secret", "logged in as alice");
    c.must("create_group g", "group g created; you are its owner");
    c.must("list_files g", "(no files shared in group g)");
    c.must("list_groups", "g  owner=alice  members=1  (you are a member)");

    // The order: every request of the user was answered while the 2,000 were all held (in the
    // tracker's log, one line per answer or close, before the first of them was dropped); then
    // the tracker drops every one of them at its TLS handshake deadline (pinned on a manual
    // clock by tests/unit/server_test.cpp): none ever began a handshake.
    const std::string kDropped = "closed: tls handshake timed out";
    EXPECT_TRUE(eventually(
        [&] {
            for (int fd : idle.fds) {
                if (!closed_by_peer(fd, Duration{0})) return false;
            }
            return true;
        },
        Duration{20000}))
        << "idle connections should be closed by the 10 s handshake timeout";
    std::vector<std::string> log;
    ASSERT_TRUE(eventually([&] {
        log = tracker_.process().stderr_lines();
        return std::count_if(log.begin(), log.end(), [&](const std::string& line) {
                   return line.find(kDropped) != std::string::npos;
               }) == 2000;
    })) << "the tracker should drop each of the 2,000 for its handshake deadline";
    auto logged = [&](const std::string& text) {
        return std::find_if(log.begin(), log.end(), [&](const std::string& line) {
            return line.find(text) != std::string::npos;
        });
    };
    const auto last_answer = logged("user=alice op=list_groups -> ok");
    ASSERT_NE(last_answer, log.end()) << "the tracker did not log the user's last request";
    EXPECT_LT(last_answer, logged(kDropped))
        << "an idle connection was dropped before the user's requests were all answered";
    EXPECT_EQ(c.run("list_groups").size(), 1u);
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
    tracker_.process().wait_for_stderr_line("127\\.0\\.2\\.1:" + std::to_string(freed) + " closed");
    int again = idle_connection("127.0.2.1", tracker_.port());
    EXPECT_FALSE(closed_by_peer(again, Duration{500})) << "a freed slot should be usable";
    ::close(again);
}

// The tracker decodes a request with at most 8 levels of nesting below the request dictionary
// and 4096 list elements and dictionary entries in all (tracker/dispatcher.cpp kRequestLimits).
constexpr int kRequestMaxDepth = 8;
constexpr int kRequestMaxItems = 4096;

// A list_groups request carrying `extra` (already bencoded) under one more key: 3 entries.
std::string request_with(const std::string& extra) {
    return Bencode::dict(
        {{"op", Bencode::str("list_groups")}, {"seq", Bencode::integer(5)}, {"zextra", extra}});
}

std::string nested_lists(int depth) {
    return std::string(static_cast<std::size_t>(depth), 'l') +
           std::string(static_cast<std::size_t>(depth), 'e');
}

std::string list_of_items(int items) {
    std::string out = "l";
    for (int i = 0; i < items; ++i) out += "i0e";
    return out + "e";
}

TEST_F(LimitsTest, RequestNestingAndItemCountAreReadAtTheirBoundAndRefusedOnePast) {
    // At the bound: read as a request (so, without a login, answered not_logged_in), and the
    // connection stays usable.
    for (const std::string& at_bound : {request_with(nested_lists(kRequestMaxDepth)),
                                        request_with(list_of_items(kRequestMaxItems - 3))}) {
        RawConnection raw("127.0.0.1", tracker_.port());
        raw.send_frame(at_bound);
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value()) << "closed instead of answering";
        EXPECT_THAT(*reply, HasSubstr("4:code13:not_logged_in")) << *reply;
        raw.send_frame(request_with("i0e"));
        EXPECT_TRUE(raw.read_frame().has_value()) << "the connection should stay open";
    }
    // One past: one bad_input reply that says why, then the tracker closes that connection.
    struct Past {
        std::string request;
        std::string reason;
    };
    for (const Past& past :
         {Past{request_with(nested_lists(kRequestMaxDepth + 1)), "nesting too deep"},
          Past{request_with(list_of_items(kRequestMaxItems - 2)), "too many items"}}) {
        RawConnection raw("127.0.0.1", tracker_.port());
        raw.send_frame(past.request);
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value()) << "closed without an error reply";
        EXPECT_THAT(*reply, HasSubstr("4:code9:bad_input")) << *reply;
        EXPECT_THAT(*reply, HasSubstr("unreadable request: bad bencode at byte ")) << *reply;
        EXPECT_THAT(*reply, HasSubstr(": " + past.reason)) << *reply;
        EXPECT_TRUE(raw.wait_closed());
        tracker_.process().wait_for_stderr_line(
            "bad request \\(bad bencode at byte [0-9]+: " + past.reason + "\\); closing");
    }
    Client& c = new_client();
    EXPECT_THAT(c.run("create_user alice pw"), ElementsAre("user alice created"));
}

// ---- the client's prompt (shared/net/signals.hpp LineReader) ----

constexpr std::size_t kMaxInputLineBytes = 65536;

TEST_F(LimitsTest, ClientReadsAnInputLineAtTheCapAndDropsALongerOneWholeWithOneError) {
    Client& c = new_client();
    // At the cap: read as a command.
    std::string at_cap = "frobnicate";
    at_cap.resize(kMaxInputLineBytes, ' ');
    EXPECT_THAT(c.run(at_cap),
                ElementsAre("error: unknown command 'frobnicate'; type help for the list"));
    // Past it: one error, and no part of the line runs, not even a command at its end.
    const std::string over = std::string(kMaxInputLineBytes, 'x') + " create_user mallory pw";
    EXPECT_THAT(c.run(over), ElementsAre("error: line longer than 65536 bytes; ignored"));
    EXPECT_THAT(c.run("create_user mallory pw"), ElementsAre("user mallory created"));
}

// ---- the client's uploader (peer/upload/uploader.hpp) ----

// The client's defaults (peer/upload/uploader.hpp, UploadLimits).
constexpr int kMaxUploadSessions = 256;
constexpr int kMaxUploadSessionsPerAddress = 32;

// The BEP 3 handshake the peers here say for `info_hash` (20 bytes), without BEP 10.
std::string limits_handshake(const std::string& info_hash) {
    return bep3_handshake(info_hash, "-XX0001-limits-test-", /*bep10=*/false);
}

// Reads what has arrived on `fd` without waiting; `closed` once the peer has closed it.
struct Drained {
    std::string bytes;
    bool closed = false;
};
Drained drain(int fd) {
    Drained out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            out.bytes.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        out.closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        return out;
    }
}

// A seeder with one open share (served to any peer: a handshake admits it, where a member's
// share would want a ticket within UploadLimits::ticket_timeout too); its port and the file's
// info hash (20 bytes).
struct OpenSeeder {
    std::uint16_t port = 0;
    std::string info_hash;
};
// `seeder` creates group g, shares a file there and opens it; fails the test unless each step
// answers as it should. Call it with ASSERT_NO_FATAL_FAILURE.
void open_seeder(Client& seeder, const std::filesystem::path& dir, OpenSeeder& out) {
    create_group(seeder, "g");
    const std::filesystem::path file = dir / "open.bin";
    std::ofstream(file, std::ios::binary) << std::string(50000, 'o');
    const std::string uploaded = seeder.run_one("upload_file " + file.string() + " g");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(uploaded, m, std::regex("info hash ([0-9a-f]{40})"))) << uploaded;
    out.info_hash = hex_to_bytes(m[1]);
    ASSERT_FALSE(out.info_hash.empty());
    ASSERT_THAT(seeder.run_one("open_share g open.bin"), ::testing::HasSubstr("now served"));
    out.port = port_of(seeder.listen_address());
}

TEST_F(LimitsTest, ClientDropsAPeerWithoutAHandshakeAtTheDeadlineAndKeepsOneThatSentIt) {
    Client& seeder = logged_in("alice");
    // Open, so that a handshake alone admits the greeting peer.
    OpenSeeder open;
    ASSERT_NO_FATAL_FAILURE(open_seeder(seeder, dir_.path(), open));
    const std::string& info_hash = open.info_hash;
    const std::uint16_t port = open.port;

    // The one that will greet connects first, so its deadline passes before the silent one's.
    Fds peers;
    const int greeted = idle_connection("127.0.0.1", port);
    const int silent = idle_connection("127.0.0.1", port);
    ASSERT_GE(greeted, 0);
    ASSERT_GE(silent, 0);
    peers.fds = {greeted, silent};
    // BEP 3: <19>"BitTorrent protocol"<8 reserved><info hash><peer id>, well within the time.
    const std::string protocol = bep3_protocol();
    const std::string handshake = limits_handshake(info_hash);
    ASSERT_EQ(::send(greeted, handshake.data(), handshake.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(handshake.size()));
    std::string answer;
    EXPECT_TRUE(eventually([&] {
        answer += drain(greeted).bytes;
        return answer.size() >= handshake.size();
    })) << "the seeder did not answer the handshake";
    EXPECT_EQ(answer.substr(0, protocol.size()), protocol);

    // The silent one is dropped, and the client says why: its handshake deadline (when: 10 s
    // after it connected, not before, pinned on a manual clock for the client's default limits
    // by tests/unit/uploader_test.cpp).
    EXPECT_TRUE(closed_by_peer(silent, Duration{20000}));
    seeder.process().wait_for_stderr_line(
        regex_escape("upload to 127.0.0.1:" + std::to_string(local_port(silent)) +
                     " closed: no handshake in time"));
    // The one that said its handshake in time is still served past its own deadline (which
    // came first): the client has not closed it, nor logged a reason.
    EXPECT_FALSE(drain(greeted).closed);
    const std::string greeted_closed =
        "upload to 127.0.0.1:" + std::to_string(local_port(greeted)) + " closed:";
    for (const auto& line : seeder.process().stderr_lines()) {
        EXPECT_EQ(line.find(greeted_closed), std::string::npos) << line;
    }
}

// A connection from `source` that has sent its handshake for the open share, the answer not
// awaited. -1 on failure.
int knocking_connection(const std::string& source, const OpenSeeder& seeder) {
    int fd = idle_connection(source, seeder.port);
    if (fd < 0) return -1;
    const std::string handshake = limits_handshake(seeder.info_hash);
    if (::send(fd, handshake.data(), handshake.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(handshake.size())) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// A connection from `source` that sent its handshake for the open share and got the seeder's
// answer: it holds an admitted slot. -1 on failure.
int admitted_connection(const std::string& source, const OpenSeeder& seeder) {
    int fd = knocking_connection(source, seeder);
    if (fd < 0) return -1;
    const std::string handshake = limits_handshake(seeder.info_hash);
    std::string answer;
    bool closed = false;
    eventually([&] {
        Drained d = drain(fd);
        answer += d.bytes;
        closed = d.closed;
        return closed || answer.size() >= handshake.size();
    });
    if (closed || answer.size() < handshake.size()) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Whether the seeder closed `fd` within `wait`, whatever it sent before.
bool closed_within(int fd, Duration wait) {
    return eventually([&] { return drain(fd).closed; }, wait);
}

int Fds::closed() const {
    int n = 0;
    for (int fd : fds) n += drain(fd).closed ? 1 : 0;
    return n;
}

// Expects `seeder` to have closed `over`, a connection from `source`, at once, and to log that it
// refused it with `reason`.
void expect_refused(Client& seeder, int over, const std::string& source, const std::string& reason,
                    const std::string& which) {
    EXPECT_TRUE(closed_within(over, Duration{3000})) << which;
    seeder.process().wait_for_stderr_line(regex_escape(
        "refusing peer " + source + ":" + std::to_string(local_port(over)) + ": " + reason));
}

TEST_F(LimitsTest, ClientServesAtMost256PeerConnectionsAndRefusesTheNextWithAReason) {
    raise_fd_limit();
    Client& seeder = logged_in("alice");
    OpenSeeder open;
    ASSERT_NO_FATAL_FAILURE(open_seeder(seeder, dir_.path(), open));
    Fds held;
    // From 16 addresses, 16 each: under the per-address bound, so only the total counts.
    for (int i = 0; i < kMaxUploadSessions; ++i) {
        int fd = admitted_connection("127.0.8." + std::to_string(1 + i % 16), open);
        ASSERT_GE(fd, 0) << "connection " << i << ": not admitted";
        held.fds.push_back(fd);
    }
    // Past the bound: the next one's handshake gets no slot.
    int over = knocking_connection("127.0.8.100", open);
    ASSERT_GE(over, 0);
    expect_refused(seeder, over, "127.0.8.100", "already serving 256 connections",
                   "connection " + std::to_string(kMaxUploadSessions + 1));
    seeder.process().wait_for_stderr_line(
        regex_escape("upload to 127.0.8.100:" + std::to_string(local_port(over)) +
                     " closed: no free upload slot"));
    ::close(over);
    // Those at the bound were kept.
    EXPECT_EQ(held.closed(), 0) << "connections below the bound were closed";
}

TEST_F(LimitsTest, ClientServesAtMost32ConnectionsFromOneAddressAndStillServesOthers) {
    Client& seeder = logged_in("alice");
    OpenSeeder open;
    ASSERT_NO_FATAL_FAILURE(open_seeder(seeder, dir_.path(), open));
    Fds held;
    // Below and at the bound: all admitted.
    for (int i = 0; i < kMaxUploadSessionsPerAddress; ++i) {
        int fd = admitted_connection("127.0.9.1", open);
        ASSERT_GE(fd, 0) << "connection " << i << ": not admitted";
        held.fds.push_back(fd);
    }
    // Past it: refused with the reason, while another address is still served.
    int over = knocking_connection("127.0.9.1", open);
    ASSERT_GE(over, 0);
    int other = admitted_connection("127.0.9.2", open);
    ASSERT_GE(other, 0) << "another address was refused";
    held.fds.push_back(other);
    expect_refused(
        seeder, over, "127.0.9.1", "already serving 32 connections from 127.0.9.1",
        "connection " + std::to_string(kMaxUploadSessionsPerAddress + 1) + " from one address");
    ::close(over);
    EXPECT_EQ(held.closed(), 0) << "connections at or below the bound were closed";
    // A slot freed on that address is given to it again.
    const int freed = held.fds.front();
    const std::uint16_t freed_port = local_port(freed);
    ::close(freed);
    held.fds.erase(held.fds.begin());
    seeder.process().wait_for_stderr_line(regex_escape(
        "upload to 127.0.9.1:" + std::to_string(freed_port) + " closed: closed by the peer"));
    int again = admitted_connection("127.0.9.1", open);
    ASSERT_GE(again, 0) << "the freed slot was not given again";
    held.fds.push_back(again);
}

}  // namespace
}  // namespace gs::e2e
