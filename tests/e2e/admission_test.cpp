// Seeder admission (SECURITY.md, docs/protocol.md §2.3): a seeder tells someone who only knows
// its address and the info hash nothing but its handshake, keeps connections without a ticket in
// a small pool of their own, and takes a ticket only for a group it shares the file in. The
// attackers here are raw BEP 3 clients written in this file (not our peer code), bound to
// 127.0.0.2 and up so that they come from several addresses.
#include "tests/e2e/harness.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace gs::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// An extended handshake carrying `ticket`, then interested and a request for the first block.
std::string ticket_and_request(const std::string& ticket) {
    return extended_ticket(ticket) + interested() + request_first_block();
}

struct Answer {
    bool handshake = false;
    bool bitfield = false;
    bool unchoke = false;
    bool piece = false;
    bool closed = false;
};

// Sends `hello` on a new connection from 127.0.0.1 and reads what comes back for up to `wait`
// or until the seeder closes.
Answer talk(std::uint16_t port, const std::string& hello, Duration wait) {
    Answer a;
    int fd = connect_from("127.0.0.1", port, Connect::Nonblocking);
    EXPECT_GE(fd, 0);
    if (fd < 0) return a;
    std::string out = hello;
    std::string in;
    const auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline && !a.closed) {
        pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        if ((p.revents & POLLOUT) != 0 && !out.empty()) {
            ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            if (n > 0) out.erase(0, static_cast<std::size_t>(n));
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            char buf[65536];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                in.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                a.closed = true;
            }
        }
    }
    ::close(fd);
    a.handshake = in.size() >= kHandshakeBytes;
    for (char id : message_ids(in)) {
        a.bitfield |= id == kBitfield;
        a.unchoke |= id == kUnchoke;
        a.piece |= id == kPieceId;
    }
    return a;
}

// Resident memory of a process, in bytes (VmRSS in /proc/PID/status).
std::size_t rss_bytes(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
    }
    return 0;
}

// Finding 5: `addresses` x `per_address` connections that each send a valid handshake for the
// file and then keep-alives, reconnecting whenever the seeder closes one, until stopped. Bounded
// in connections made and in time.
class TicketlessFlood {
public:
    TicketlessFlood(std::uint16_t port, std::string info_hash, int addresses, int per_address)
        : port_(port), hello_(bep3_handshake(info_hash)) {
        for (int a = 0; a < addresses; ++a) {
            for (int c = 0; c < per_address; ++c) {
                slots_.push_back({"127.0.0." + std::to_string(2 + a), -1, false, {}});
            }
        }
        thread_ = std::thread([this] { run(); });
    }
    ~TicketlessFlood() { stop(); }
    TicketlessFlood(const TicketlessFlood&) = delete;
    TicketlessFlood& operator=(const TicketlessFlood&) = delete;

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        for (auto& s : slots_) {
            if (s.fd >= 0) ::close(s.fd);
            s.fd = -1;
        }
    }
    // Connections the seeder accepted and answered with its handshake, over the whole flood.
    int answered() const { return answered_; }
    int connections_made() const { return made_; }

private:
    static constexpr int kMaxConnections = 50000;
    static constexpr Duration kMaxTime{60000};
    // A closed slot connects again after this (at most 256 / 0.2 s = 1280 connections a second).
    static constexpr Duration kReconnectAfter{200};

    struct Slot {
        std::string source;
        int fd;
        bool greeted;
        Clock::time_point retry_at;
    };

    void run() {
        const auto end = Clock::now() + kMaxTime;
        auto next_keep_alive = Clock::now();
        while (!stop_ && Clock::now() < end) {
            for (auto& s : slots_) {
                if (s.fd >= 0 || made_ >= kMaxConnections || Clock::now() < s.retry_at) continue;
                s.fd = connect_from(s.source, port_, Connect::Nonblocking);
                s.greeted = false;
                if (s.fd >= 0) ++made_;
            }
            std::vector<pollfd> p;
            for (auto& s : slots_) {
                short events = POLLIN;
                if (!s.greeted) events |= POLLOUT;
                p.push_back({s.fd, events, 0});  // poll skips fd -1
            }
            ::poll(p.data(), p.size(), 50);
            const bool keep_alive = Clock::now() >= next_keep_alive;
            if (keep_alive) next_keep_alive = Clock::now() + Duration{1000};
            for (std::size_t i = 0; i < slots_.size(); ++i) {
                Slot& s = slots_[i];
                if (s.fd < 0) continue;
                bool dead = (p[i].revents & (POLLERR | POLLHUP)) != 0;
                if (!dead && !s.greeted && (p[i].revents & POLLOUT) != 0) {
                    dead = ::send(s.fd, hello_.data(), hello_.size(), MSG_NOSIGNAL) !=
                           static_cast<ssize_t>(hello_.size());
                    s.greeted = true;
                }
                if (!dead && (p[i].revents & POLLIN) != 0) {
                    char buf[4096];
                    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
                    if (n > 0) {
                        ++answered_;  // counts reads, not connections; only "some" matters
                    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                        dead = true;
                    }
                }
                if (!dead && keep_alive && s.greeted) {
                    const std::string ka(4, '\0');
                    dead = ::send(s.fd, ka.data(), ka.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN;
                }
                if (dead) {
                    ::close(s.fd);
                    s.fd = -1;
                    s.retry_at = Clock::now() + kReconnectAfter;
                }
            }
        }
    }

    std::uint16_t port_;
    std::string hello_;
    std::vector<Slot> slots_;
    std::atomic<bool> stop_{false};
    std::atomic<int> answered_{0};
    std::atomic<int> made_{0};
    std::thread thread_;
};

class AdmissionTest : public E2eTest {
protected:
    void SetUp() override {
        use_plain_peer_wire();  // the flood and the raw members speak plain BEP 3
        E2eTest::SetUp();
    }

    // Uploads `path` into `group` from `client`; the file's info hash (hex).
    std::string upload(Client& client, const fs::path& path, const std::string& group) {
        auto lines = client.run("upload_file " + path.string() + " " + group, Duration{60000});
        EXPECT_FALSE(lines.empty());
        std::smatch m;
        if (lines.empty() ||
            !std::regex_search(lines.back(), m, std::regex("info hash ([0-9a-f]{40})"))) {
            ADD_FAILURE() << (lines.empty() ? "no answer" : lines.back());
            return "";
        }
        return m[1];
    }
};

// Finding 5: 8 addresses x 32 connections that send a valid handshake and then keep-alives
// (reconnecting whenever closed) used to hold all 256 upload slots: a member's download sat at
// 0% and the seeder grew from 10 to 116 MB. Now they share a pool of 16 and never learn the
// bitfield; the member's download completes during the flood (the flood's 256 connections are
// open before it starts, and the flood still makes new ones after it ended) and the seeder
// stays small.
TEST_F(AdmissionTest, AFloodOfTicketlessConnectionsNeitherKeepsAMemberOutNorCostsMemory) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group g", "group g created; you are its owner");
    join_group(alice, bob, "bob", "g");
    // 256 Ki pieces: before, each flood connection cost the seeder a 32 KiB unsent bitfield.
    const std::string content = random_bytes(8 << 20, 5);
    const fs::path src = dir_ / "src" / "big.bin";
    fs::create_directories(src.parent_path());
    write_file(src, content);
    const std::string hash = upload(alice, src, "g");
    ASSERT_FALSE(hash.empty());
    const std::size_t rss_before = rss_bytes(alice.process().pid());

    TicketlessFlood flood(port_of(alice.listen_address()), hex_to_bytes(hash), 8, 32);
    // Every flood connection is open (before the fix, all 256 held a slot from here on).
    ASSERT_TRUE(eventually([&] {
        return flood.connections_made() >= 256 && flood.answered() >= 16;
    })) << "the flood never got going";

    const fs::path dest = dir_ / "down" / "big.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(bob.run("download_file g big.bin " + dest.string()),
                ::testing::ElementsAre(HasSubstr("1 peer(s) online")));
    // Polled rather than waited for, so that the numbers are printed either way (the deadline
    // only fails a download that never completes).
    std::size_t rss_during = 0;
    const std::string done = "[C] [g] big.bin  -> " + dest.string();
    const bool completed = eventually(
        [&] {
            rss_during = std::max(rss_during, rss_bytes(alice.process().pid()));
            const auto out = bob.process().stdout_lines();
            return std::find(out.begin(), out.end(), done) != out.end();
        },
        Duration{20000});
    // The order: the flood goes on after the download has completed (a connection it makes
    // from now on is one more than it had made when the download was seen to complete).
    const int made_at_completion = flood.connections_made();
    EXPECT_TRUE(eventually([&] { return flood.connections_made() > made_at_completion; }))
        << "the flood had ended before the download completed: the test shows nothing";
    const int made = flood.connections_made();
    flood.stop();
    std::cout << "download under the flood: " << (completed ? "complete" : "NOT COMPLETE")
              << " after " << made_at_completion << " flood connections; seeder RSS "
              << rss_before / 1024 << " KiB -> (peak) " << rss_during / 1024 << " KiB; " << made
              << " flood connections\n";
    ASSERT_TRUE(completed) << "the member's download did not complete during the flood";
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    // Waiting connections hold no bitfield and little input: a few MB at most, not 100.
    EXPECT_LT(rss_during, rss_before + (24u << 20))
        << "before " << rss_before << " during " << rss_during;
    // The flood filled the waiting pool and was refused or made room for newcomers.
    EXPECT_THAT(alice.process().stderr_lines(),
                ::testing::Contains(HasSubstr("closed: made room for a newer connection")));
}

// Finding 7: knowing the address and info hash gets the seeder's handshake and extended
// handshake, not its bitfield (which pieces it has) and not an unchoke.
TEST_F(AdmissionTest, WithoutATicketTheSeederSaysNothingOfItsPieces) {
    Client& alice = logged_in("alice");
    alice.must("create_group g", "group g created; you are its owner");
    const fs::path src = dir_ / "secret.bin";
    write_file(src, random_bytes(300000, 3));
    const std::string hash = upload(alice, src, "g");
    ASSERT_FALSE(hash.empty());
    Answer a =
        talk(port_of(alice.listen_address()), bep3_handshake(hex_to_bytes(hash)), Duration{10000});
    EXPECT_TRUE(a.handshake);
    EXPECT_FALSE(a.bitfield);
    EXPECT_FALSE(a.unchoke);
    EXPECT_TRUE(a.closed) << "kept open past the ticket deadline";
    alice.process().wait_for_stderr_line("closed: no ticket in time");
}

// Finding 1 (seeder half): carol, honest, shares the same file in her group g2 too; bob, a
// member of g2 only, holds a valid ticket for that file — for g2. Alice shares it in g1 only:
// the ticket does not open her share, while it does open carol's.
TEST_F(AdmissionTest, ATicketForAnotherGroupSharingTheSameFileDoesNotOpenTheShare) {
    Client& alice = logged_in("alice");
    Client& carol = logged_in("carol");
    alice.must("create_group g1", "group g1 created; you are its owner");
    carol.must("create_group g2", "group g2 created; you are its owner");
    const std::string content = random_bytes(300000, 9);
    const fs::path alices = dir_ / "alice" / "same.bin";
    const fs::path carols = dir_ / "carol" / "same.bin";
    for (const auto& p : {alices, carols}) {
        fs::create_directories(p.parent_path());
        write_file(p, content);
    }
    const std::string hash = upload(alice, alices, "g1");
    ASSERT_FALSE(hash.empty());
    ASSERT_EQ(upload(carol, carols, "g2"), hash);

    // Bob, a member of g2, asks the tracker for the file in g2 over a raw connection.
    RawConnection bob("127.0.0.1", tracker_.port());
    std::int64_t seq = 1;
    auto ask = [&](const std::string& op, std::vector<std::pair<std::string, std::string>> args) {
        args.emplace_back("op", Bencode::str(op));
        args.emplace_back("seq", Bencode::integer(seq));
        bob.send_frame(Bencode::dict(std::move(args)));
        const std::string tag = "3:seqi" + std::to_string(seq++) + "e";
        for (;;) {
            auto reply = bob.read_frame();
            if (!reply || reply->find(tag) != std::string::npos) return reply.value_or("");
        }
    };
    const auto user = std::vector<std::pair<std::string, std::string>>{
        {"user", Bencode::str("bob")}, {"password", Bencode::str("secret")}};
    ASSERT_THAT(ask("create_user", user), HasSubstr("2:oki1e"));
    auto login = user;
    login.emplace_back("listen", Bencode::str("127.0.0.1:9"));
    ASSERT_THAT(ask("login", login), HasSubstr("2:oki1e"));
    ASSERT_THAT(ask("join_group", {{"group", Bencode::str("g2")}}), HasSubstr("2:oki1e"));
    carol.must("accept_request g2 bob", "bob is now a member of group g2");
    const std::string reply =
        ask("get_file", {{"group", Bencode::str("g2")}, {"name", Bencode::str("same.bin")}});
    const auto at = reply.find("6:ticket");
    ASSERT_NE(at, std::string::npos) << reply;
    const auto colon = reply.find(':', at + 8);
    const std::size_t len = std::stoul(reply.substr(at + 8, colon - at - 8));
    const std::string ticket = reply.substr(colon + 1, len);

    const std::string hello = bep3_handshake(hex_to_bytes(hash)) + ticket_and_request(ticket);
    Answer at_alice = talk(port_of(alice.listen_address()), hello, Duration{5000});
    EXPECT_TRUE(at_alice.closed);
    EXPECT_FALSE(at_alice.bitfield || at_alice.unchoke || at_alice.piece);
    alice.process().wait_for_stderr_line(
        "closed: ticket refused: for a group this file is not shared in");
    // The ticket itself is good: carol, who shares the file in g2, serves it.
    Answer at_carol = talk(port_of(carol.listen_address()), hello, Duration{5000});
    EXPECT_TRUE(at_carol.bitfield && at_carol.unchoke && at_carol.piece);
}

}  // namespace
}  // namespace gs::e2e
