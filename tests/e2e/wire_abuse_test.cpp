// A peer that sends malformed or oversized wire messages is dropped, and the download completes
// from the others (BEP 3 peer wire, our caps in peer/wire/wire_constants.hpp). The hostile peer is
// written here with raw sockets, not with our peer code: it logs in to the tracker over TLS as a
// group member, registers as a seeder of the file with `add_seeder` (docs/protocol.md §1.3), so
// the tracker lists it, and misbehaves on every connection the downloader opens to it.
#include "tests/e2e/fixtures.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace gs::e2e {
namespace {

// Nine pieces, the last one short: a 2-byte bitfield with 7 spare bits (BEP 3).
constexpr std::size_t kFileBytes = 8 * kPiece + 1234;
constexpr std::uint32_t kPieces = 9;
// The client's largest message body, a bitfield of 256 KiB plus its id byte
// (peer/wire/wire_constants.hpp kMaxMessageBytes).
constexpr std::uint32_t kMessageCap = 1 + 256 * 1024;
constexpr Duration kDownloadTimeout{30000};

// One way to misbehave, and the reason the downloader gives when it drops the peer for it.
struct Abuse {
    std::string name;
    bool send_handshake = true;  // answer the downloader's BEP 3 handshake first
    std::string bytes;           // then send this
    bool serve_garbage = false;  // and answer every request with a block of junk
    std::string reason;
};

// GoogleTest shows a parameter by its name, not by its (sometimes 256 KiB of) bytes.
void PrintTo(const Abuse& abuse, std::ostream* os) {
    *os << abuse.name;
}

// A seeder only in name: listens on 127.0.0.1:0 and, for each connection, reads the downloader's
// handshake, answers it and misbehaves as its Abuse says, until the downloader closes. Runs on its
// own thread, one connection at a time; the test thread waits on what it saw.
class HostilePeer {
public:
    HostilePeer(std::string info_hash, Abuse abuse)
        : info_hash_(std::move(info_hash)), abuse_(std::move(abuse)) {
        listen_fd_ = listen_loopback(0, port_, "hostile peer");
        thread_ = std::thread([this] { run(); });
    }

    ~HostilePeer() {
        stop_.raise();
        thread_.join();
        ::close(listen_fd_);
    }

    HostilePeer(const HostilePeer&) = delete;
    HostilePeer& operator=(const HostilePeer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    // True once the downloader has closed (EOF or reset) a connection on which it sent its
    // handshake for our file and we misbehaved.
    bool wait_dropped(Duration timeout) {
        std::unique_lock lock(mu_);
        return changed_.wait_for(lock, timeout, [&] { return dropped_ > 0; });
    }

    // Anything the peer found wrong with the downloader's side, for failure messages.
    std::string problems() const {
        std::lock_guard lock(mu_);
        return problems_;
    }

private:
    enum class Wait { Ready, Stopped };

    // Waits until `fd` is ready for `events` or the test stops us.
    Wait wait_for(int fd, short events) {
        pollfd p[2] = {{fd, events, 0}, {stop_.fd(), POLLIN, 0}};
        while (::poll(p, 2, -1) < 0) {
            if (errno != EINTR) return Wait::Stopped;
        }
        return p[1].revents != 0 ? Wait::Stopped : Wait::Ready;
    }

    void note_problem(const std::string& what) {
        std::lock_guard lock(mu_);
        problems_ += what + "\n";
    }

    void run() {
        while (wait_for(listen_fd_, POLLIN) == Wait::Ready) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) continue;
            const bool dropped = serve(fd);
            ::close(fd);
            if (dropped) {
                std::lock_guard lock(mu_);
                ++dropped_;
                changed_.notify_all();
            }
        }
    }

    // Bytes out to a non-blocking socket; false when the downloader has closed or we stop.
    bool send_all(int fd, std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) {
                bytes.remove_prefix(static_cast<std::size_t>(n));
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_for(fd, POLLOUT) == Wait::Stopped) return false;
            } else {
                return false;
            }
        }
        return true;
    }

    enum class Read { Data, Closed, Stopped };

    Read read_some(int fd, std::string& in) {
        for (;;) {
            char buf[65536];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                in.append(buf, static_cast<std::size_t>(n));
                return Read::Data;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) return Read::Closed;  // EOF, reset
            if (wait_for(fd, POLLIN) == Wait::Stopped) return Read::Stopped;
        }
    }

    // Answers each whole `request` in `in` with a block of junk; drops the messages it reads.
    bool answer_requests(int fd, std::string& in) {
        std::string out;
        in.erase(0, whole_messages(in, [&](std::string_view body) {
                     if (body.size() == 13 && body[0] == kRequest) {
                         const std::string index_and_begin(body.substr(1, 8));
                         out +=
                             message(kPieceId, index_and_begin + std::string(get32(body, 9), 'x'));
                     }
                 }));
        return send_all(fd, out);
    }

    // True when the downloader closed the connection after its handshake and our abuse.
    bool serve(int fd) {
        std::string in;
        while (in.size() < kHandshakeBytes) {
            // A session the downloader ends unasked (its download is complete) is no drop.
            if (read_some(fd, in) != Read::Data) return false;
        }
        if (in.compare(0, 20, bep3_protocol()) != 0 || in.compare(28, 20, info_hash_) != 0) {
            note_problem("the downloader's handshake was not for our file");
            return false;
        }
        in.erase(0, kHandshakeBytes);
        std::string opening;
        if (abuse_.send_handshake) opening = bep3_handshake(info_hash_, "-XX0001-hostilepeer0");
        opening += abuse_.bytes;
        if (!send_all(fd, opening)) return true;  // closed on us while we were still sending
        for (;;) {
            if (abuse_.serve_garbage && !answer_requests(fd, in)) return true;
            switch (read_some(fd, in)) {
                case Read::Data: break;
                case Read::Closed: return true;
                case Read::Stopped: return false;
            }
        }
    }

    std::string info_hash_;
    Abuse abuse_;
    int listen_fd_ = -1;
    StopSignal stop_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    mutable std::mutex mu_;
    std::condition_variable changed_;
    int dropped_ = 0;
    std::string problems_;
};

std::vector<Abuse> abuses() {
    const std::string all_pieces("\xff\x80", 2);  // 9 pieces, BEP 3 bit order
    return {
        {.name = "LengthPrefixOf2GiB",
         .bytes = be32(0x7fffffff),  // and never a byte of body
         .reason = "message of 2147483647 bytes is over the 262145 byte limit"},
        {.name = "LengthPrefixOfFourGiB",
         .bytes = be32(0xffffffff) + std::string(1, kPieceId),
         .reason = "message of 4294967295 bytes is over the 262145 byte limit"},
        {.name = "LengthPrefixOneOverTheCap",
         .bytes = message_with_length(kMessageCap + 1, kBitfield, std::string(1000, '\xff')),
         .reason = "message of 262146 bytes is over the 262145 byte limit"},
        {.name = "PieceShorterThanItsHeader",
         .bytes = message(kPieceId, be32(0)),
         .reason = "message 7 of 5 bytes (expected 10 to 16393)"},
        {.name = "PieceWithABlockOver16KiB",
         .bytes = message(kPieceId, be32(0) + be32(0) + std::string(32768, 'x')),
         .reason = "message 7 of 32777 bytes (expected 10 to 16393)"},
        {.name = "RequestOfTheWrongLength",
         .bytes = message(kRequest, be32(0) + be32(0)),
         .reason = "message 6 of 9 bytes (expected 13)"},
        {.name = "ExtendedMessageOver16KiB",
         .bytes =
             message_with_length(2 + 16 * 1024 + 1, kExtended, std::string(16 * 1024 + 1, 'e')),
         .reason = "message 20 of 16387 bytes (expected 2 to 16386)"},
        {.name = "UnknownMessageId",
         .bytes = message('\xee', "zz"),
         .reason = "unknown message id 238"},
        {.name = "AbsurdBitfieldWithinTheCap",
         .bytes = message(kBitfield, std::string(kMessageCap - 1, '\xff')),
         .reason = "bitfield of 262144 bytes for 9 pieces"},
        {.name = "BitfieldOneByteTooLong",
         .bytes = message(kBitfield, all_pieces + std::string(1, '\0')),
         .reason = "bitfield of 3 bytes for 9 pieces"},
        {.name = "BitfieldWithSpareBitsSet",
         .bytes = message(kBitfield, "\xff\xff"),
         .reason = "bitfield has spare bits set"},
        {.name = "HaveForAPieceThatDoesNotExist",
         .bytes = message(kHave, be32(kPieces)),
         .reason = "have for a piece that does not exist"},
        {.name = "NotABitTorrentHandshake",
         .send_handshake = false,
         .bytes = "GET /announce HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
         .reason = "not a BitTorrent handshake"},
        {.name = "BlocksOfGarbage",
         .bytes = message(kBitfield, all_pieces) + message(kUnchoke),
         .serve_garbage = true,
         .reason = "kept sending pieces that fail their SHA1 check"},
    };
}

using GroupTest = E2eTest;

class WireAbuseTest : public E2eTest, public ::testing::WithParamInterface<Abuse> {
protected:
    void SetUp() override {
        use_plain_peer_wire();  // the hostile seeder speaks plain BEP 3
        E2eTest::SetUp();
    }
};

TEST_P(WireAbuseTest, TheAbusiveSeederIsDroppedAndTheDownloadCompletesFromTheOthers) {
    const Abuse& abuse = GetParam();
    auto [alice, bob, carol] = in_group("g", "alice", "bob", "carol");
    const std::string content = random_bytes(kFileBytes, 42);
    const fs::path src = dir_ / "src" / "data.bin";
    fs::create_directories(src.parent_path());
    std::ofstream(src, std::ios::binary) << content;
    std::string info_hash_hex;
    for (Client* seeder : {&alice, &bob}) {
        auto lines = seeder->run("upload_file " + src.string() + " g", Duration{30000});
        ASSERT_FALSE(lines.empty());
        std::smatch m;
        ASSERT_TRUE(std::regex_search(lines.back(), m, std::regex("info hash ([0-9a-f]{40})")))
            << lines.back();
        info_hash_hex = m[1];
    }

    // The hostile peer joins the group like anyone and says it seeds the file.
    HostilePeer hostile(hex_to_bytes(info_hash_hex), abuse);
    RawSession mallory(tracker_.port());
    mallory.login("mallory", hostile.address(), true);
    ASSERT_THAT(mallory.request("join_group", {{"group", Bencode::str("g")}}),
                HasSubstr("2:oki1e"));
    accept_request(alice, "g", "mallory");
    ASSERT_THAT(mallory.request("add_seeder", {{"group", Bencode::str("g")},
                                               {"info_hash", Bencode::str(info_hash_hex)}}),
                HasSubstr("2:oki1e"));
    ASSERT_THAT(carol.run("list_files g"),
                ElementsAre(MatchesRegex("data\\.bin .* seeders=3  online=3")));

    // The honest seeders are frozen until the hostile peer has been dropped, so the drop cannot
    // be the quiet close of a download that finished first; their sockets already listen, so
    // the downloader's connections wait in their backlog.
    alice.process().signal(SIGSTOP);
    bob.process().signal(SIGSTOP);
    const fs::path dest = dir_ / "down" / "data.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(carol.run("download_file g data.bin " + dest.string()),
                ElementsAre(HasSubstr("3 peer(s) online")));
    carol.process().wait_for_stderr_line("peer " + regex_escape(hostile.address()) +
                                         ": closed \\(" + regex_escape(abuse.reason) + "\\)$");
    EXPECT_TRUE(hostile.wait_dropped(kDefaultTimeout))
        << "the downloader kept the connection open\n"
        << hostile.problems();
    alice.process().signal(SIGCONT);
    bob.process().signal(SIGCONT);

    const std::string done = "[C] [g] data.bin  -> " + dest.string();
    carol.process().wait_for_line("^" + regex_escape(done) + "$", kDownloadTimeout);
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    EXPECT_EQ(hostile.problems(), "");
    EXPECT_FALSE(carol.process().poll_exit().has_value()) << "the downloader died";
    auto shown = carol.run("show_downloads");
    ASSERT_EQ(shown.size(), 1u);
    EXPECT_THAT(shown[0], StartsWith(done));
}

// A seeder whose copy went bad after it shared it, unnoticed, is the only source of a piece: the
// download cannot finish, and show_downloads says why instead of a bare 0.0 MB/s; once a member
// with a good copy seeds, it completes.
TEST_F(GroupTest, APieceOnlyACorruptCopyHasIsShownAsSuchUntilAGoodCopyComes) {
    auto [alice, bob, carol] = in_group("g", "alice", "bob", "carol");
    const std::string content = random_bytes(kFileBytes, 7);
    const auto [alices, bobs] = write_copies(dir_.path(), "data.bin", content, "alice", "bob");
    ASSERT_THAT(alice.run("upload_file " + alices.string() + " g", Duration{30000}),
                ElementsAre(HasSubstr("info hash")));
    {  // One byte of piece 3 goes bad on alice's disk after she shared it, with the file's
       // modification time kept (bit rot, or an editor that restores it), so her client cannot
       // tell and serves it.
        const auto mtime = fs::last_write_time(alices);
        {
            std::fstream f(alices, std::ios::binary | std::ios::in | std::ios::out);
            f.seekp(3 * kPiece + 100);
            f.put(static_cast<char>(content[3 * kPiece + 100] ^ 0x5a));
        }
        fs::last_write_time(alices, mtime);
    }

    const fs::path dest = dir_ / "down" / "data.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(carol.run("download_file g data.bin " + dest.string()),
                ElementsAre(HasSubstr("1 peer(s) online")));
    carol.process().wait_for_stderr_line("piece 3 of data\\.bin failed its SHA1 check");
    const std::string why =
        "(1 piece(s) came corrupt from every peer that has them; waiting for a peer with a good "
        "copy)";
    std::string shown;
    EXPECT_TRUE(eventually([&] {
        auto lines = carol.run("show_downloads");
        shown = lines.empty() ? "" : lines.front();
        return shown.find(why) != std::string::npos;
    })) << shown;
    EXPECT_THAT(shown, MatchesRegex(R"(\[D\] \[g\] data\.bin  [0-9.]+%  .* 1 peer\(s\)  \(.*)"));

    // A good copy comes online: the piece comes from it and the file is right.
    ASSERT_THAT(bob.run("upload_file " + bobs.string() + " g", Duration{30000}),
                ElementsAre(HasSubstr("info hash")));
    const std::string done = "[C] [g] data.bin  -> " + dest.string();
    carol.process().wait_for_line("^" + regex_escape(done) + "$", kDownloadTimeout);
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
}

INSTANTIATE_TEST_SUITE_P(Abuses, WireAbuseTest, ::testing::ValuesIn(abuses()),
                         [](const ::testing::TestParamInfo<Abuse>& param) {
                             return param.param.name;
                         });

}  // namespace
}  // namespace gs::e2e
