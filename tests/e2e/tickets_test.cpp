// Only members get pieces: a seeder serves a connection only after it shows a download ticket
// signed by the tracker (SECURITY.md). Here a raw BEP 3 client written in this file — not our
// peer code — knows a seeder's address and the file's info hash, and gets no piece.
#include "tests/e2e/harness.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

namespace gs::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::StartsWith;

// What a stranger's BitTorrent client would send: a handshake with the BEP 10 bit, optionally an
// extended handshake carrying `ticket`, then interested and a request for the first block.
std::string stranger_hello(const std::string& info_hash, const std::string& ticket) {
    std::string out = bep3_handshake(info_hash);
    if (!ticket.empty()) out += extended_ticket(ticket);
    return out + interested() + request_first_block();
}

struct Outcome {
    bool got_piece = false;
    bool got_unchoke = false;
    bool closed = false;
};

// Sends `hello` to 127.0.0.1:`port` and reads the answer for up to `wait`, parsing messages.
Outcome talk_to_seeder(std::uint16_t port, const std::string& hello, Duration wait) {
    int fd = connect_from("127.0.0.1", port);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(hello.size()));
    std::string in;
    Outcome out;
    auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline && !out.closed) {
        pollfd p{fd, POLLIN, 0};
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
        char buf[65536];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            out.closed = true;
            break;
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    for (char id : message_ids(in)) {
        out.got_piece |= id == kPieceId;
        out.got_unchoke |= id == kUnchoke;
    }
    return out;
}

class TicketsTest : public E2eTest {
protected:
    void SetUp() override {
        use_plain_peer_wire();  // the raw strangers speak plain BEP 3
        E2eTest::SetUp();
        Client& a = logged_in("alice");
        seeder_ = &a;
        a.must("create_group g", "group g created; you are its owner");
        const fs::path file = dir_ / "secret.bin";
        std::ofstream(file, std::ios::binary) << std::string(100000, 's');
        auto lines = a.run("upload_file " + file.string() + " g");
        ASSERT_EQ(lines.size(), 1u);
        std::smatch m;
        ASSERT_TRUE(std::regex_search(lines[0], m, std::regex("info hash ([0-9a-f]{40})")))
            << lines[0];
        info_hash_ = hex_to_bytes(m[1]);
        port_ = static_cast<std::uint16_t>(
            std::stoi(a.listen_address().substr(a.listen_address().rfind(':') + 1)));
    }

    Client* seeder_ = nullptr;
    std::string info_hash_;
    std::uint16_t port_ = 0;
};

TEST_F(TicketsTest, AStrangerWithTheAddressAndInfoHashGetsNoPiece) {
    Outcome out = talk_to_seeder(port_, stranger_hello(info_hash_, ""), Duration{3000});
    EXPECT_FALSE(out.got_piece);
    EXPECT_FALSE(out.got_unchoke);
    EXPECT_TRUE(
        seeder_->process().wait_for_stderr_line("request without a valid download ticket").size() >
        0);
}

TEST_F(TicketsTest, AForgedTicketIsRefused) {
    // Well-formed, but not signed by the tracker.
    std::string body = "d1:ei9999999999e1:g1:g1:h20:" + info_hash_ + "1:u5:alicee";
    std::string forged =
        "d1:b" + std::to_string(body.size()) + ":" + body + "1:s64:" + std::string(64, 'x') + "e";
    Outcome out = talk_to_seeder(port_, stranger_hello(info_hash_, forged), Duration{3000});
    EXPECT_FALSE(out.got_piece);
    EXPECT_TRUE(out.closed);
    seeder_->process().wait_for_stderr_line("ticket refused: bad signature");
}

TEST_F(TicketsTest, AnOpenShareServesTicketlessPeers) {
    EXPECT_THAT(seeder_->run_one("open_share g secret.bin"),
                StartsWith("secret.bin in group g is now served to any peer"));
    Outcome out = talk_to_seeder(port_, stranger_hello(info_hash_, ""), Duration{3000});
    EXPECT_TRUE(out.got_unchoke);
    EXPECT_TRUE(out.got_piece);
}

TEST_F(TicketsTest, AMemberWhoLeftGetsNoNewTicket) {
    Client& bob = logged_in("bob");
    bob.must("join_group g", "join request sent to the owner of group g");
    seeder_->must("accept_request g bob", "bob is now a member of group g");
    bob.must("leave_group g", "left group g");
    auto lines = bob.run("download_file g secret.bin " + (dir_ / "copy.bin").string());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], StartsWith("error: "));
    EXPECT_FALSE(fs::exists(dir_ / "copy.bin.part"));
}

}  // namespace
}  // namespace gs::e2e
