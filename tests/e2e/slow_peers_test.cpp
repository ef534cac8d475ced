// The downloader ranks its peers by the rate they deliver (peer/download/peer_ranking.hpp):
// one far slower than the others, while they could give us its pieces, is dropped with the
// reason in the log, and in the endgame the fastest peers are asked for the last blocks too, so
// they never wait only on the slowest. The slow peers here are raw BEP 3 seeders written in this
// file, each a group member registered as a seeder of the file with `add_seeder` (as in
// wire_abuse_test.cpp), that drip one block of junk every 4.5 s: just under the downloader's
// 5 s "no block" deadline. This test asserts the events only (the drippers were asked, the download
// completed with the right bytes) and reports how many were dropped; the drop, on a clock the
// test moves, is the unit test DrippingSeedersAreDroppedAsTooSlowAndTheGoodOneFinishes
// (tests/unit/peer_session_test.cpp).
#include "tests/e2e/harness.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace gs::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A hang guard only, not a verdict: how long to poll for the end of the download before the
// test reports it incomplete (before the fix it took 51-180 s).
constexpr Duration kPatience{60000};

// A seeder that claims every piece, unchokes at once, and answers one request every `every`
// with a block of junk, on every connection the downloader opens; its own thread, bounded by
// the test's lifetime.
class DrippingSeeder {
public:
    DrippingSeeder(std::string info_hash, std::uint32_t pieces, Duration every)
        : info_hash_(std::move(info_hash)), pieces_(pieces), every_(every) {
        listen_fd_ = listen_loopback(SOCK_NONBLOCK, port_, "dripping seeder");
        thread_ = std::thread([this] { run(); });
    }
    ~DrippingSeeder() {
        stop_.raise();
        thread_.join();
        for (auto& c : conns_) ::close(c.fd);
        ::close(listen_fd_);
    }
    DrippingSeeder(const DrippingSeeder&) = delete;
    DrippingSeeder& operator=(const DrippingSeeder&) = delete;

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    int blocks_sent() const { return blocks_sent_; }

private:
    struct Conn {
        int fd;
        std::string in;
        bool handshaken = false;
        std::deque<std::string> requests;  // 12 bytes each: index, begin, length
        Clock::time_point next_drip{};
    };

    void run() {
        for (;;) {
            std::vector<pollfd> p{{stop_.fd(), POLLIN, 0}, {listen_fd_, POLLIN, 0}};
            for (auto& c : conns_) p.push_back({c.fd, POLLIN, 0});
            ::poll(p.data(), p.size(), 100);
            if (p[0].revents != 0) return;
            if (p[1].revents != 0) {
                int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0) conns_.push_back(Conn{fd});
            }
            const auto now = Clock::now();
            for (std::size_t i = 0; i < conns_.size(); ++i) {
                Conn& c = conns_[i];
                bool dead = false;
                if (i + 2 < p.size() && p[i + 2].revents != 0) dead = !read(c);
                if (!dead && !c.requests.empty() && now >= c.next_drip) {
                    const std::string& r = c.requests.front();
                    const std::uint32_t length = get32(r, 8);
                    std::string block =
                        message(kPieceId, r.substr(0, 8) + std::string(length, 'x'));
                    c.requests.pop_front();
                    dead = ::send(c.fd, block.data(), block.size(), MSG_NOSIGNAL) < 0 &&
                           errno != EAGAIN;
                    ++blocks_sent_;
                    c.next_drip = now + every_;
                }
                if (dead) {
                    ::close(c.fd);
                    c.fd = -1;
                }
            }
            std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
        }
    }

    // False when the downloader closed the connection.
    bool read(Conn& c) {
        char buf[65536];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
        if (n > 0) c.in.append(buf, static_cast<std::size_t>(n));
        if (!c.handshaken) {
            if (c.in.size() < kHandshakeBytes) return true;
            c.in.erase(0, kHandshakeBytes);
            c.handshaken = true;
            std::string bits((pieces_ + 7) / 8, '\xff');
            if (pieces_ % 8 != 0) bits.back() = static_cast<char>(0xff << (8 - pieces_ % 8));
            std::string out = bep3_handshake(info_hash_, "-XX0001-drippingpeer") +
                              message(kBitfield, bits) + message(kUnchoke);
            if (::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return false;
        }
        c.in.erase(0, whole_messages(c.in, [&](std::string_view body) {
                       if (body.size() == 13 && body[0] == kRequest)
                           c.requests.emplace_back(body.substr(1));
                   }));
        return true;
    }

    std::string info_hash_;
    std::uint32_t pieces_;
    Duration every_;
    int listen_fd_ = -1;
    StopSignal stop_;
    std::uint16_t port_ = 0;
    std::vector<Conn> conns_;
    std::atomic<int> blocks_sent_{0};
    std::thread thread_;
};

class SlowPeersTest : public E2eTest {
protected:
    void SetUp() override {
        use_plain_peer_wire();  // the dripping seeders speak plain BEP 3
        E2eTest::SetUp();
    }

    // A member whose client is only a raw tracker connection: it says it listens at `listen`
    // and seeds the file.
    void register_seeder(const std::string& user, const std::string& listen, Client& owner,
                         const std::string& info_hash_hex) {
        auto raw = std::make_unique<RawConnection>("127.0.0.1", tracker_.port());
        std::int64_t seq = 1;
        auto ask = [&](const std::string& op,
                       std::vector<std::pair<std::string, std::string>> args) {
            args.emplace_back("op", Bencode::str(op));
            args.emplace_back("seq", Bencode::integer(seq));
            raw->send_frame(Bencode::dict(std::move(args)));
            const std::string tag = "3:seqi" + std::to_string(seq++) + "e";
            for (;;) {
                auto reply = raw->read_frame();
                if (!reply || reply->find(tag) != std::string::npos) return reply.value_or("");
            }
        };
        const auto creds = std::vector<std::pair<std::string, std::string>>{
            {"user", Bencode::str(user)}, {"password", Bencode::str("secret")}};
        ASSERT_THAT(ask("create_user", creds), HasSubstr("2:oki1e"));
        auto login = creds;
        login.emplace_back("listen", Bencode::str(listen));
        ASSERT_THAT(ask("login", login), HasSubstr("2:oki1e"));
        ASSERT_THAT(ask("join_group", {{"group", Bencode::str("g")}}), HasSubstr("2:oki1e"));
        owner.must("accept_request g " + user, user + " is now a member of group g");
        ASSERT_THAT(ask("add_seeder",
                        {{"group", Bencode::str("g")}, {"info_hash", Bencode::str(info_hash_hex)}}),
                    HasSubstr("2:oki1e"));
        sessions_.push_back(std::move(raw));  // online while the connection lasts
    }

    std::vector<std::unique_ptr<RawConnection>> sessions_;
};

// Finding 6 (downloader half): 31 seeders that each drip a block of junk every 4.5 s used to slow
// an 8 MiB download that takes a tenth of a second to 51-180 s (not complete after 200 s here).
// Now the drippers are dropped as too slow and the download completes.
TEST_F(SlowPeersTest, SeedersThatDripJunkDoNotHoldUpTheDownload) {
    // As many as in the finding: with fewer, their first requests do not cover every block
    // three times over and the old code got by.
    constexpr int kDrippers = 31;
    constexpr std::size_t kFileBytes = 8 << 20;
    constexpr std::uint32_t kPieces = kFileBytes / (512 * 1024);
    Client& alice = logged_in("alice");
    Client& carol = logged_in("carol");
    alice.must("create_group g", "group g created; you are its owner");
    carol.must("join_group g", "join request sent to the owner of group g");
    alice.must("accept_request g carol", "carol is now a member of group g");
    const std::string content = random_bytes(kFileBytes, 11);
    const fs::path src = dir_ / "src" / "big.bin";
    fs::create_directories(src.parent_path());
    write_file(src, content);
    auto lines = alice.run("upload_file " + src.string() + " g", Duration{60000});
    ASSERT_FALSE(lines.empty());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(lines.back(), m, std::regex("info hash ([0-9a-f]{40})")))
        << lines.back();
    const std::string hash_hex = m[1];

    std::vector<std::unique_ptr<DrippingSeeder>> drippers;
    for (int i = 0; i < kDrippers; ++i) {
        drippers.push_back(
            std::make_unique<DrippingSeeder>(hex_to_bytes(hash_hex), kPieces, Duration{4500}));
        ASSERT_NO_FATAL_FAILURE(register_seeder("drip" + std::to_string(i),
                                                drippers.back()->address(), alice, hash_hex));
    }

    const fs::path dest = dir_ / "down" / "big.bin";
    fs::create_directories(dest.parent_path());
    const auto t0 = Clock::now();
    EXPECT_THAT(
        carol.run("download_file g big.bin " + dest.string()),
        ::testing::ElementsAre(HasSubstr(std::to_string(kDrippers + 1) + " peer(s) online")));
    // Polled rather than waited for, so that the numbers are printed either way. The time is
    // printed for information only: no verdict depends on it.
    const std::string done = "[C] [g] big.bin  -> " + dest.string();
    const bool completed = eventually(
        [&] {
            const auto out = carol.process().stdout_lines();
            return std::find(out.begin(), out.end(), done) != out.end();
        },
        kPatience);
    const auto took = std::chrono::duration_cast<Duration>(Clock::now() - t0);
    int dripped = 0;
    for (const auto& d : drippers) dripped += d->blocks_sent();
    EXPECT_GT(dripped, 0) << "the drippers were never asked: the test shows nothing";
    int dropped = 0;
    for (const auto& line : carol.process().stderr_lines()) {
        if (line.find(": closed (too slow: ") != std::string::npos) ++dropped;
    }
    std::cout << "8 MiB with " << kDrippers
              << " dripping seeders: " << (completed ? "" : "NOT COMPLETE after ") << took.count()
              << " ms, " << dripped << " junk blocks dripped, " << dropped
              << " dropped as too slow\n";
    ASSERT_TRUE(completed) << "the download did not complete";
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    // Whether a dripper is dropped as too slow before the download ends depends on how fast the
    // good seeders are (under ASan they can finish first), so the count is reported, not asserted:
    // the drop itself is pinned on the manual clock by peer_session_test
    // (DrippingSeedersAreDroppedAsTooSlowAndTheGoodOneFinishes).
}

}  // namespace
}  // namespace gs::e2e
