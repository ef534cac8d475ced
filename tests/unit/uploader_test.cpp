// The serving side's limits (UploadLimits), each at, below and past its bound: admitted
// connections in total and per address, the separate pool of connections waiting for a ticket,
// the handshake, ticket and idle timeouts, requests queued per connection; and its admission
// rules: nothing about the pieces before a valid ticket, tickets only for a group the file is
// shared in, and never one issued before the group's latest membership change. The loop runs on
// a ManualClock, so every timeout is checked at its time and takes no real time; the peers are
// plain sockets on 127.0.0.1 written and read by the test between turns of the loop.
#include "peer/upload/uploader.hpp"

#include "peer/wire/extended_handshake.hpp"
#include "peer/wire/handshake.hpp"
#include "peer/wire/message.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/ticket.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace gs::peer {
namespace {

using test::info_for;
using test::random_bytes;

using namespace std::chrono_literals;

constexpr std::uint32_t kBlock = wire::kBlockBytes;
constexpr std::uint32_t kPiece = 2 * kBlock;
constexpr std::uint32_t kPieces = 8;

// A downloading peer, as raw bytes on a socket: what it sent us is parsed as it arrives.
class FakePeer {
public:
    // What the peer has seen of the uploader so far.
    struct Seen {
        bool extended_handshake = false;
        bool bitfield = false;
        bool unchoked = false;
        bool closed = false;  // the uploader closed the connection
    };

    FakePeer(net::EventLoop& loop, std::uint16_t port, const std::string& from) : loop_(loop) {
        net::Endpoint source{from, 0};
        auto fd = net::connect_tcp(net::Endpoint{"127.0.0.1", port}, &source);
        EXPECT_TRUE(fd.ok()) << (fd.ok() ? "" : fd.error().message);
        if (fd.ok()) fd_ = std::move(fd).value();
    }

    // Sends `bytes` and waits until they have reached the uploader's socket.
    void send(const std::string& bytes) {
        ASSERT_EQ(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
        ASSERT_TRUE(test_support::run_until_delivered(loop_, fd_.get()));
    }
    void send_handshake(const Sha1Digest& info_hash) {
        std::string out;
        wire::encode_handshake(out, wire::Handshake{info_hash, wire::random_peer_id(), true});
        send(out);
    }
    void send_requests(std::uint32_t blocks) {
        std::string out;
        for (std::uint32_t b = 0; b < blocks; ++b) {
            wire::encode_request(out, b / (kPiece / kBlock), (b % (kPiece / kBlock)) * kBlock,
                                 kBlock);
        }
        send(out);  // in one write, so the uploader reads them in one go
    }
    // Our extended handshake, with a ticket when one is given.
    void send_ticket(const std::string& ticket) {
        wire::ExtendedHandshake hs;
        hs.client = "test";
        if (!ticket.empty()) hs.extra["ticket"] = ticket;
        std::string out;
        wire::encode_extended_handshake(out, hs);
        send(out);
    }
    // Reads what has arrived.
    const Seen& seen() {
        poll();
        return seen_;
    }
    // The blocks received, each checked against `content`.
    std::size_t blocks(const std::string& content) {
        poll();
        for (; checked_ < pieces_.size(); ++checked_) {
            const auto& [index, begin, data] = pieces_[checked_];
            EXPECT_EQ(data, content.substr(std::size_t{index} * kPiece + begin, data.size()));
        }
        return pieces_.size();
    }

private:
    struct Piece {
        std::uint32_t index, begin;
        std::string data;
    };
    void poll() {
        char buf[64 * 1024];
        for (;;) {
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                in_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) seen_.closed = true;
            break;
        }
        if (!handshaken_) {
            if (in_.size() < wire::kHandshakeBytes) return;
            in_.erase(0, wire::kHandshakeBytes);
            handshaken_ = true;
        }
        std::size_t at = 0;
        for (;;) {
            std::size_t consumed = 0;
            auto m = wire::parse_message(std::string_view(in_).substr(at), consumed);
            ASSERT_TRUE(m.ok()) << m.error().message;
            if (!*m) break;
            if ((*m)->id == wire::MsgId::Unchoke) seen_.unchoked = true;
            if ((*m)->id == wire::MsgId::Bitfield) seen_.bitfield = true;
            if ((*m)->id == wire::MsgId::Extended && (*m)->extended_id == 0) {
                seen_.extended_handshake = true;
            }
            if ((*m)->id == wire::MsgId::Piece) {
                pieces_.push_back({(*m)->index, (*m)->begin, std::string((*m)->payload)});
            }
            at += consumed;
        }
        in_.erase(0, at);
    }

    net::EventLoop& loop_;
    net::Fd fd_;
    std::string in_;
    bool handshaken_ = false;
    Seen seen_;
    std::vector<Piece> pieces_;
    std::size_t checked_ = 0;
};

class UploaderTest : public test_support::LoopTest {
protected:
    void SetUp() override { testing::internal::CaptureStderr(); }
    void TearDown() override {
        uploader_.reset();
        log();
    }

    // An uploader serving one share of content_ in group "g": open (no ticket needed), or for
    // members holding a ticket signed by signer_.
    void start(UploadLimits limits, bool open = true) {
        auto listener = net::listen_tcp(net::Endpoint{"127.0.0.1", 0});
        ASSERT_TRUE(listener.ok());
        port_ = net::local_endpoint(listener->get())->port;
        std::ofstream(dir_.file("file"), std::ios::binary) << content_;
        ASSERT_TRUE(shares_.add("g", info_, dir_.file("file")).ok());
        shares_.find(info_.info_hash)->open = open;
        uploader_ = std::make_unique<Uploader>(loop_, std::move(listener).value(), shares_,
                                               wire::random_peer_id(), limits);
        uploader_->set_ticket_key(signer_.public_key());
        // These fake peers speak plain BEP 3 (FakePeer); the sealed channel in front of the same
        // admission is tested in e2e/sealed_channel.
        uploader_->set_peer_wire(seal::KeyPair::generate(), true);
        uploader_->set_serving(true);
    }
    std::string ticket(std::string group = "g", std::int64_t epoch = 0,
                       std::int64_t lifetime = 60) {
        return signer_.sign(
            Ticket{"bob", std::move(group), info_.info_hash, loop_.unix_now() + lifetime, epoch});
    }
    // A peer that handshook with the ticketed share and showed `t`: unchoked, or closed.
    std::unique_ptr<FakePeer> ticketed_peer(const std::string& t,
                                            const std::string& from = "127.0.0.1") {
        auto peer = connect(from);
        peer->send_handshake(info_.info_hash);
        EXPECT_TRUE(run_until([&] { return peer->seen().extended_handshake; }));
        peer->send_ticket(t);
        EXPECT_TRUE(run_until([&] { return peer->seen().unchoked || peer->seen().closed; }));
        return peer;
    }

    std::unique_ptr<FakePeer> connect(const std::string& from = "127.0.0.1") {
        return std::make_unique<FakePeer>(loop_, port_, from);
    }
    std::unique_ptr<FakePeer> handshaken_peer() {
        auto peer = connect();
        peer->send_handshake(info_.info_hash);
        EXPECT_TRUE(run_until([&] { return peer->seen().unchoked; })) << "no answer";
        return peer;
    }
    bool sessions_reach(std::size_t n) {
        return run_until([&] { return uploader_->session_count() == n; });
    }
    // The log so far (capturing stops at the first call).
    const std::string& log() {
        if (capturing_) log_ = testing::internal::GetCapturedStderr();
        capturing_ = false;
        return log_;
    }
    bool logged(const std::string& text) { return log().find(text) != std::string::npos; }

    std::string content_ = random_bytes(std::size_t{kPieces} * kPiece, 7);
    proto::InfoDict info_ = info_for(content_, kPiece);
    test::TempDir dir_;
    Shares shares_;
    std::uint16_t port_ = 0;
    std::unique_ptr<Uploader> uploader_;
    TicketSigner signer_ = TicketSigner::generate();
    bool capturing_ = true;
    std::string log_;
};

TEST_F(UploaderTest, ServesRequestsQueuedUpToTheBoundAndDropsAPeerThatQueuesOneMore) {
    start(UploadLimits{.max_queued_requests = 8});
    // Below and at the bound: 7, then 8 requests in one write, all served.
    auto peer = handshaken_peer();
    peer->send_requests(7);
    EXPECT_TRUE(run_until([&] { return peer->blocks(content_) == 7; }));
    peer->send_requests(8);
    EXPECT_TRUE(run_until([&] { return peer->blocks(content_) == 15; }));
    EXPECT_FALSE(peer->seen().closed);
    EXPECT_EQ(uploader_->session_count(), 1u);

    // Past it: 9 in one write; the connection is closed before any of them is served.
    auto greedy = handshaken_peer();
    greedy->send_requests(9);
    EXPECT_TRUE(run_until([&] { return greedy->seen().closed; }));
    EXPECT_EQ(greedy->blocks(content_), 0u);
    EXPECT_TRUE(sessions_reach(1)) << "the first peer is still served";
    EXPECT_TRUE(logged("closed: too many requests queued (0 bytes served)")) << log();
}

TEST_F(UploaderTest, DropsASilentPeerAtTheHandshakeDeadlineAndKeepsOneThatGreetedInTime) {
    // The deadline is long next to the time the test takes to act (a tenth of it), so a loaded
    // machine cannot push the "below" case past it.
    constexpr auto kDeadline = 1000ms;
    start(UploadLimits{.handshake_timeout = kDeadline});
    const auto t0 = clock_.now();
    auto silent = connect();
    auto greeting = connect();
    ASSERT_TRUE(sessions_reach(2));  // both accepted, their deadlines armed, at t0
    // Below: a handshake well within the deadline is answered, and the connection outlives it.
    advance(kDeadline / 10);
    greeting->send_handshake(info_.info_hash);
    EXPECT_TRUE(run_until([&] { return greeting->seen().unchoked; }));
    // Past: the silent one is closed, not before the deadline.
    advance(t0 + kDeadline - 1ns - clock_.now());
    EXPECT_EQ(uploader_->session_count(), 2u) << "closed before the deadline";
    EXPECT_TRUE(advance_until([&] { return uploader_->session_count() == 1; }, 2s));
    EXPECT_TRUE(run_until([&] { return silent->seen().closed; }));
    EXPECT_GE(clock_.now() - t0, kDeadline);
    advance(200ms);
    EXPECT_FALSE(greeting->seen().closed);
    EXPECT_EQ(uploader_->session_count(), 1u);
    EXPECT_TRUE(logged("closed: no handshake in time")) << log();
}

// The client builds its Uploader with the default limits (peer/file_sharing.cpp): a peer that
// never sends its handshake is dropped 10 s after it connected, not before (tests/e2e/
// limits_test.cpp sees the same drop, and its reason, on the real client).
TEST_F(UploaderTest, ByDefaultASilentPeerIsDroppedTenSecondsAfterItConnected) {
    start(UploadLimits{});
    ASSERT_EQ(UploadLimits{}.handshake_timeout, 10s);
    const auto t0 = clock_.now();
    auto silent = connect();
    ASSERT_TRUE(sessions_reach(1));  // accepted, its deadline armed, at t0
    advance(t0 + 10s - 1ns - clock_.now());
    EXPECT_EQ(uploader_->session_count(), 1u) << "closed before the deadline";
    advance(1ns);
    EXPECT_TRUE(run_until([&] { return silent->seen().closed; }));
    EXPECT_TRUE(sessions_reach(0));
    EXPECT_TRUE(logged("closed: no handshake in time")) << log();
}

TEST_F(UploaderTest, KeepsAPeerThatSpeaksWithinTheIdleTimeoutAndDropsOneSilentForIt) {
    constexpr auto kIdle = 1000ms;
    start(UploadLimits{.idle_timeout = kIdle});
    auto peer = handshaken_peer();
    // Below: a keep-alive every 150 ms (well within the timeout), for more than two timeouts.
    std::string keep_alive;
    wire::encode_keep_alive(keep_alive);
    auto last_said = clock_.now();
    for (int i = 0; i < 15; ++i) {
        advance(150ms);
        ASSERT_FALSE(peer->seen().closed) << "closed after " << i << " keep-alives";
        peer->send(keep_alive);  // on the uploader's socket when this returns
        last_said = clock_.now();
    }
    // Past: silent for the timeout, then closed with the reason, not before.
    advance(kIdle - 1ns);
    EXPECT_EQ(uploader_->session_count(), 1u) << "closed before the idle timeout";
    EXPECT_TRUE(advance_until([&] { return uploader_->session_count() == 0; }, 2s));
    EXPECT_TRUE(run_until([&] { return peer->seen().closed; }));
    const auto silent_for = clock_.now() - last_said;
    EXPECT_GE(silent_for, kIdle);
    EXPECT_LT(silent_for, kIdle + 2000ms);
    EXPECT_TRUE(sessions_reach(0));
    EXPECT_TRUE(logged("closed: idle for 1 s")) << log();
}

TEST_F(UploaderTest, CountsAdmittedConnectionsPerAddressAndInTotalAndFreesASlotWhenOneCloses) {
    start(UploadLimits{.max_sessions = 3, .max_sessions_per_address = 2});
    // At the per-address bound: two admitted from 127.0.0.1; past it: a third is refused.
    auto a1 = handshaken_peer();
    auto a2 = handshaken_peer();
    auto a3 = connect("127.0.0.1");
    a3->send_handshake(info_.info_hash);
    EXPECT_TRUE(run_until([&] { return a3->seen().closed; }));
    EXPECT_FALSE(a3->seen().unchoked);
    // Another address still gets in, up to the total; past the total, it is refused too.
    auto b1 = connect("127.0.0.2");
    b1->send_handshake(info_.info_hash);
    EXPECT_TRUE(run_until([&] { return b1->seen().unchoked; }));
    auto c1 = connect("127.0.0.3");
    c1->send_handshake(info_.info_hash);
    EXPECT_TRUE(run_until([&] { return c1->seen().closed; }));
    EXPECT_EQ(uploader_->admitted_count(), 3u);
    EXPECT_FALSE(a1->seen().closed || a2->seen().closed || b1->seen().closed);

    // A connection that ends frees its slot for its address.
    a1.reset();
    ASSERT_TRUE(run_until([&] { return uploader_->admitted_count() == 2; }));
    auto a4 = handshaken_peer();
    EXPECT_EQ(uploader_->admitted_count(), 3u);
    EXPECT_FALSE(a4->seen().closed);
    EXPECT_TRUE(logged("already serving 2 connections from 127.0.0.1")) << log();
    EXPECT_TRUE(logged("already serving 3 connections")) << log();
    EXPECT_TRUE(logged("closed: no free upload slot")) << log();
}

// Finding 5 and 7: a seeder answers the handshake of someone who knows the info hash with its
// own handshake and extended handshake only; the bitfield and unchoke come with a valid ticket,
// and a connection without one is closed at the ticket deadline.
TEST_F(UploaderTest, SaysNothingOfItsPiecesBeforeATicketAndClosesAtTheTicketDeadline) {
    constexpr auto kTicketDeadline = 1000ms;
    start(UploadLimits{.ticket_timeout = kTicketDeadline}, /*open=*/false);
    auto silent = connect();
    const auto greeted = clock_.now();  // its ticket deadline starts at this time
    silent->send_handshake(info_.info_hash);
    ASSERT_TRUE(run_until([&] { return silent->seen().extended_handshake; }));
    // Below: a ticket well within the deadline opens the share.
    auto member = connect();
    member->send_handshake(info_.info_hash);
    ASSERT_TRUE(run_until([&] { return member->seen().extended_handshake; }));
    EXPECT_FALSE(member->seen().bitfield || member->seen().unchoked);
    advance(kTicketDeadline / 10);
    member->send_ticket(ticket());
    ASSERT_TRUE(run_until([&] { return member->seen().unchoked; }));
    EXPECT_TRUE(member->seen().bitfield);
    member->send_requests(2);
    EXPECT_TRUE(run_until([&] { return member->blocks(content_) == 2; }));

    // Past: the other one never learnt what we have, and goes at the deadline, not before.
    advance(greeted + kTicketDeadline - 1ns - clock_.now());
    EXPECT_EQ(uploader_->waiting_count(), 1u) << "closed before the ticket deadline";
    EXPECT_TRUE(advance_until([&] { return uploader_->waiting_count() == 0; }, 2s));
    EXPECT_TRUE(run_until([&] { return silent->seen().closed; }));
    EXPECT_GE(clock_.now() - greeted, kTicketDeadline);
    EXPECT_FALSE(silent->seen().bitfield || silent->seen().unchoked);
    EXPECT_EQ(silent->blocks(content_), 0u);
    EXPECT_FALSE(member->seen().closed);

    // A request without a ticket is refused, and an extended handshake without one admits
    // nothing.
    auto greedy = connect();
    greedy->send_handshake(info_.info_hash);
    greedy->send_ticket("");
    greedy->send_requests(1);
    EXPECT_TRUE(run_until([&] { return greedy->seen().closed; }));
    EXPECT_FALSE(greedy->seen().bitfield);
    EXPECT_TRUE(logged("closed: no ticket in time (0 bytes served)")) << log();
    EXPECT_TRUE(logged("closed: request without a valid download ticket")) << log();
}

// Finding 5: connections without a ticket wait in a pool of their own: at most
// max_waiting_per_address from one address (past it refused) and max_waiting_sessions in all
// (past it the oldest makes room); they never take an admitted slot.
TEST_F(UploaderTest, ConnectionsWithoutATicketHaveASmallPoolOfTheirOwn) {
    start(UploadLimits{.max_sessions = 4,
                       .max_sessions_per_address = 4,
                       .max_waiting_sessions = 3,
                       .max_waiting_per_address = 2,
                       .ticket_timeout = 60s},
          /*open=*/false);
    // At the per-address bound: two waiting from 127.0.0.1 (one handshaken, one silent).
    auto a1 = connect("127.0.0.1");
    a1->send_handshake(info_.info_hash);
    ASSERT_TRUE(run_until([&] { return a1->seen().extended_handshake; }));
    auto a2 = connect("127.0.0.1");
    ASSERT_TRUE(run_until([&] { return uploader_->waiting_count() == 2; }));
    // Past it: a third from that address is refused; the others are kept.
    auto a3 = connect("127.0.0.1");
    EXPECT_TRUE(run_until([&] { return a3->seen().closed; }));
    // At the total: a third from another address.
    auto b1 = connect("127.0.0.2");
    ASSERT_TRUE(run_until([&] { return uploader_->waiting_count() == 3; }));
    EXPECT_FALSE(a1->seen().closed || a2->seen().closed || b1->seen().closed);
    // Past it: a newcomer gets in and the oldest one of the address with the most makes room.
    auto c1 = connect("127.0.0.3");
    EXPECT_TRUE(run_until([&] { return a1->seen().closed; }));
    EXPECT_EQ(uploader_->waiting_count(), 3u);
    EXPECT_FALSE(a2->seen().closed || b1->seen().closed || c1->seen().closed);

    // The pool is full of idle sockets, yet a member comes in and is served: his ticket moves
    // him to the admitted slots, none of which the waiting ones hold.
    auto member = ticketed_peer(ticket(), "127.0.0.4");
    ASSERT_TRUE(member->seen().unchoked);
    member->send_requests(3);
    EXPECT_TRUE(run_until([&] { return member->blocks(content_) == 3; }));
    EXPECT_EQ(uploader_->admitted_count(), 1u);
    EXPECT_EQ(uploader_->waiting_count(), 2u);
    EXPECT_FALSE(member->seen().closed);
    EXPECT_TRUE(logged("already 2 connections from 127.0.0.1 waiting for a ticket")) << log();
    EXPECT_TRUE(
        logged("made room for a newer connection (3 waiting for a ticket, 2 of them from "
               "127.0.0.1)"))
        << log();
}

// When the waiting pool is full, the addresses holding the most waiting connections lose them
// first: a member's single connection outlives a flood from other addresses.
TEST_F(UploaderTest, AFloodingAddressLosesItsWaitingConnectionsBeforeAMemberLosesHisOne) {
    start(
        UploadLimits{
            .max_waiting_sessions = 4, .max_waiting_per_address = 3, .ticket_timeout = 60s},
        /*open=*/false);
    auto member = connect("127.0.0.1");
    member->send_handshake(info_.info_hash);
    ASSERT_TRUE(run_until([&] { return member->seen().extended_handshake; }));
    std::vector<std::unique_ptr<FakePeer>> flood;
    for (int i = 0; i < 3; ++i) flood.push_back(connect("127.0.0.2"));
    ASSERT_TRUE(run_until([&] { return uploader_->waiting_count() == 4; }));
    // Three newcomers from a third address: each time the address with the most goes first.
    for (int i = 0; i < 3; ++i) {
        flood.push_back(connect("127.0.0.3"));
        ASSERT_TRUE(run_until([&] {
            std::size_t closed = 0;
            for (auto& f : flood) closed += f->seen().closed ? 1 : 0;
            return closed == static_cast<std::size_t>(i + 1);
        }));
    }
    // The member, the oldest of all, was never the one to go; .2 lost two, .3 its oldest.
    EXPECT_FALSE(member->seen().closed);
    EXPECT_TRUE(flood[0]->seen().closed && flood[1]->seen().closed && flood[3]->seen().closed);
    EXPECT_FALSE(flood[2]->seen().closed || flood[4]->seen().closed || flood[5]->seen().closed);
    member->send_ticket(ticket());
    EXPECT_TRUE(run_until([&] { return member->seen().unchoked; }));
}

// Before a ticket, a connection may send its handshake and extended handshake, not more.
TEST_F(UploaderTest, AWaitingConnectionThatSendsMoreThanAnExtendedHandshakeIsClosed) {
    start(UploadLimits{}, /*open=*/false);
    auto peer = connect();
    peer->send_handshake(info_.info_hash);
    ASSERT_TRUE(run_until([&] { return peer->seen().extended_handshake; }));
    // At the cap: an unfinished message (a bitfield, which BEP 3 allows up to 256 KiB) whose
    // bytes so far fill it exactly.
    std::string partial;
    const std::uint32_t len = 1 + 64 * 1024;
    for (int i = 3; i >= 0; --i) partial.push_back(static_cast<char>(len >> (8 * i)));
    partial.push_back(5);
    partial += std::string(kMaxInputBeforeTicket - partial.size(), '\0');
    peer->send(partial);
    advance(200ms);
    EXPECT_FALSE(peer->seen().closed);
    // Past it: one byte more.
    peer->send(std::string(1, '\0'));
    EXPECT_TRUE(run_until([&] { return peer->seen().closed; }));
    EXPECT_TRUE(logged("closed: too much data before a ticket")) << log();
}

// Finding 1: a ticket opens a share only for a group the file is shared in here.
TEST_F(UploaderTest, ATicketForAGroupTheFileIsNotSharedInIsRefused) {
    start(UploadLimits{}, /*open=*/false);
    auto other = ticketed_peer(ticket("g2"));
    EXPECT_TRUE(other->seen().closed);
    EXPECT_FALSE(other->seen().bitfield || other->seen().unchoked);
    EXPECT_TRUE(logged("closed: ticket refused: for a group this file is not shared in")) << log();
    // Shared in g2 as well: the same ticket opens it.
    ASSERT_TRUE(shares_.add("g2", info_, dir_.file("file")).ok());
    auto now_ok = ticketed_peer(ticket("g2"));
    EXPECT_TRUE(now_ok->seen().unchoked);
    // No longer shared in g2: what its ticket asks for is refused.
    ASSERT_TRUE(shares_.remove("g2", info_.name).has_value());
    now_ok->send_requests(1);
    EXPECT_TRUE(run_until([&] { return now_ok->seen().closed; }));
    EXPECT_EQ(now_ok->blocks(content_), 0u);
}

// Finding 1: once a ticket of a later membership epoch has been seen for a group, tickets of
// that group from before are refused, and connections admitted on them are no longer served.
TEST_F(UploaderTest, TicketsIssuedBeforeTheGroupsLatestMembershipChangeAreRefused) {
    start(UploadLimits{}, /*open=*/false);
    auto old_member = ticketed_peer(ticket("g", 5));
    ASSERT_TRUE(old_member->seen().unchoked);
    old_member->send_requests(1);
    EXPECT_TRUE(run_until([&] { return old_member->blocks(content_) == 1; }));
    EXPECT_EQ(uploader_->epoch_of("g"), 5);
    // At the epoch: the same one is accepted.
    auto same = ticketed_peer(ticket("g", 5));
    EXPECT_TRUE(same->seen().unchoked);
    // A later one is accepted and remembered.
    auto newer = ticketed_peer(ticket("g", 6));
    EXPECT_TRUE(newer->seen().unchoked);
    EXPECT_EQ(uploader_->epoch_of("g"), 6);
    // Below it: refused from now on.
    auto stale = ticketed_peer(ticket("g", 5));
    EXPECT_TRUE(stale->seen().closed);
    EXPECT_TRUE(logged("closed: ticket refused: issued before a membership change")) << log();
    // The connection admitted on epoch 5 is served no more...
    old_member->send_requests(1);
    EXPECT_TRUE(run_until([&] { return old_member->seen().closed; }));
    EXPECT_EQ(old_member->blocks(content_), 1u);
    // ... unless it shows a ticket of the new epoch, as our downloader does.
    same->send_ticket(ticket("g", 6));
    same->send_requests(2);
    EXPECT_TRUE(run_until([&] { return same->blocks(content_) == 2; }));
    EXPECT_FALSE(same->seen().closed);
}

// Finding 1 (seeder half): tickets live 30 s now, so a download outlives many of them; a
// connection that shows a fresh one before the old expires is served throughout, and one that
// stops renewing is refused once its ticket has expired.
TEST_F(UploaderTest, AConnectionRenewingItsShortTicketIsServedAcrossExpiriesAndOneThatStopsIsNot) {
    start(UploadLimits{.max_queued_requests = 64}, /*open=*/false);
    constexpr std::int64_t kLifetime = 2;  // seconds
    auto renewing = ticketed_peer(ticket("g", 0, kLifetime));
    auto lapsing = ticketed_peer(ticket("g", 0, kLifetime));
    ASSERT_TRUE(renewing->seen().unchoked && lapsing->seen().unchoked);
    std::size_t asked = 0;
    const auto t0 = clock_.now();
    // Four ticket lifetimes: a request every 100 ms, a fresh ticket every quarter lifetime (the
    // expiry has a resolution of one second).
    auto last_renewed = t0;
    while (clock_.now() - t0 < std::chrono::seconds(4 * kLifetime)) {
        if (clock_.now() - last_renewed >= std::chrono::milliseconds(kLifetime * 250)) {
            renewing->send_ticket(ticket("g", 0, kLifetime));
            last_renewed = clock_.now();
        }
        renewing->send_requests(1);
        ++asked;
        ASSERT_TRUE(run_until([&] { return renewing->blocks(content_) == asked; }))
            << "not served after " << asked << " requests";
        advance(100ms);
    }
    EXPECT_FALSE(renewing->seen().closed);
    // The one that stopped renewing lost its slot ticket_timeout (3 s) after its ticket expired,
    // keep-alives or not; a request would have closed it too.
    lapsing->send_requests(1);
    EXPECT_TRUE(run_until([&] { return lapsing->seen().closed; }));
    EXPECT_EQ(lapsing->blocks(content_), 0u);
    EXPECT_TRUE(logged("closed: ticket expired and no newer one shown")) << log();
}

// The group epochs remembered are bounded: past the bound, groups no share is in are forgotten.
TEST_F(UploaderTest, RemembersEpochsForABoundedNumberOfGroups) {
    start(UploadLimits{.max_epoch_groups = 2}, /*open=*/false);
    ASSERT_TRUE(uploader_->check_epoch("g", 3).ok());
    ASSERT_TRUE(uploader_->check_epoch("gone", 1).ok());
    EXPECT_EQ(uploader_->epoch_of("gone"), 1);
    // At the bound: "gone" is in no share, so it is forgotten to make room; "g" stays.
    ASSERT_TRUE(uploader_->check_epoch("third", 1).ok());
    EXPECT_EQ(uploader_->epoch_of("gone"), 0);
    EXPECT_EQ(uploader_->epoch_of("third"), 1);
    EXPECT_FALSE(uploader_->check_epoch("g", 2).ok());
}

}  // namespace
}  // namespace gs::peer
