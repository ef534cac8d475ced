// PeerSession's deadlines (peer/download/peer_session.hpp, SessionDeadlines): connect, handshake,
// "kept us choked" and "no block for too long", each shortened to kDeadline and checked at/below
// its bound (a seeder that answers in time is kept past it) and past it (a stalled one is dropped,
// never before the deadline and not much after). A real Downloader connects over 127.0.0.1 to a
// fake seeder that the test plays with plain non-blocking sockets between turns of the event loop;
// which deadline fired is read from the session's log line on stderr. The loop runs on a
// ManualClock: time passes only when the test advances it, so the deadlines are checked at
// their exact time and the tests take no real time waiting for them. The same fake seeders, one
// good and some that drip, show the Downloader's ranking (RankingLimits) dropping the slow ones.
#include "peer/download/downloader.hpp"
#include "peer/wire/extended_handshake.hpp"
#include "peer/wire/wire.hpp"
#include "shared/bitfield.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/socket.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"
#include "shared/ticket.hpp"
#include "shared/worker_pool.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gs::peer {
namespace {

using test::info_for;
using test::random_bytes;
using test::read_file;

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = net::Clock;
using std::chrono::milliseconds;

// Every deadline under test; the others keep their defaults (seconds), so a session that used
// the wrong one would miss the upper bound.
constexpr milliseconds kDeadline = 300ms;
// How far past its deadline the test looks for the close (of the clock the test moves: a close
// comes at the deadline exactly unless bytes are still in the kernel when the clock moves).
constexpr milliseconds kSlack = 2s;
// The "below the bound" cases use a longer deadline and act within a tenth of it.
constexpr milliseconds kLongDeadline = 1000ms;
constexpr milliseconds kPrompt = kLongDeadline / 10;

constexpr std::uint32_t kBlock = wire::kBlockBytes;
constexpr std::uint32_t kPiece = 2 * kBlock;

milliseconds ms_since(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration_cast<milliseconds>(to - from);
}

// The seeder side of one connection, on 127.0.0.1. Every wait turns the downloader's loop, so
// both ends make progress on the one test thread.
class FakeSeeder {
public:
    FakeSeeder(net::EventLoop& loop, net::ManualClock& clock, const proto::InfoDict& info,
               const std::string& content)
        : loop_(loop), clock_(clock), info_(info), content_(content) {
        auto fd = net::listen_tcp(net::Endpoint{"127.0.0.1", 0});
        EXPECT_TRUE(fd.ok()) << fd.error().message;
        if (fd) listen_ = std::move(fd).value();
        auto at = net::local_endpoint(listen_.get());
        EXPECT_TRUE(at.ok());
        if (at) address_ = *at;
    }

    const net::Endpoint& address() const { return address_; }
    bool peer_closed() {
        read_some();
        return closed_;
    }
    const std::deque<wire::Message>& requests() const { return requests_; }
    // The tickets the downloader showed in its extended handshakes, in order.
    const std::vector<std::string>& tickets() const { return tickets_; }
    // Runs the loop until a request is outstanding; false when the connection closed first.
    bool wait_for_request() {
        return run_until([&] { return !requests_.empty() || closed_; }) && !requests_.empty();
    }

    // Accepts the downloader's connection and reads its handshake.
    bool accept_and_read_handshake() {
        bool accepted = test_support::run_until(loop_, [&] {
            if (!conn_.valid()) conn_ = net::accept_tcp(listen_.get());
            return conn_.valid();
        });
        if (!accepted) return false;
        if (!run_until([&] { return in_.size() >= wire::kHandshakeBytes || closed_; }))
            return false;
        auto hs = wire::parse_handshake(in_);
        if (!hs || !*hs || (*hs)->info_hash != info_.info_hash) return false;
        in_.erase(0, wire::kHandshakeBytes);
        handshaken_ = true;
        return true;
    }

    // Our handshake and a bitfield with every piece.
    void send_handshake_and_bitfield() {
        wire::Handshake hs;
        hs.info_hash = info_.info_hash;
        hs.peer_id = wire::random_peer_id();
        std::string out;
        wire::encode_handshake(out, hs);
        Bitfield all(info_.piece_count());
        all.set_all();
        wire::encode_bitfield(out, all.to_bytes());
        send(out);
    }

    void send_unchoke() { send_state(wire::MsgId::Unchoke); }
    void send_choke() { send_state(wire::MsgId::Choke); }

    // Answers the oldest outstanding request with the right bytes of the content.
    void send_oldest_block() {
        ASSERT_FALSE(requests_.empty());
        const wire::Message r = requests_.front();
        requests_.pop_front();
        std::string out;
        wire::encode_piece(
            out, r.index, r.begin,
            std::string_view(content_).substr(std::size_t{r.index} * kPiece + r.begin, r.length));
        send(out);
    }

    // Runs the loop until `done` holds, reading what the downloader sends meanwhile.
    bool run_until(const std::function<bool()>& done) {
        return test_support::run_until(loop_, [&] {
            read_some();
            return done();
        });
    }
    // Moves the clock on by `by` (timers due meanwhile run), then reads what came.
    void advance(Clock::duration by) {
        test_support::advance(loop_, clock_, by);
        read_some();
    }

private:
    void read_some() {
        if (!conn_.valid() || closed_) return;
        char buf[64 * 1024];
        for (;;) {
            ssize_t n = ::recv(conn_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                in_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed_ = true;
            break;
        }
        if (handshaken_) parse_messages();
    }

    void parse_messages() {
        for (;;) {
            std::size_t consumed = 0;
            auto m = wire::parse_message(in_, consumed);
            ASSERT_TRUE(m.ok()) << m.error().message;
            if (!*m) return;
            const wire::Message msg = **m;
            if (msg.id == wire::MsgId::Request && !msg.keep_alive) {
                requests_.push_back(msg);
            } else if (msg.id == wire::MsgId::Extended && !msg.keep_alive &&
                       msg.extended_id == wire::kExtendedHandshakeId) {
                auto hs = wire::parse_extended_handshake(msg.payload);
                ASSERT_TRUE(hs.ok());
                if (auto t = hs->extra.find("ticket"); t != hs->extra.end()) {
                    tickets_.push_back(std::string(t->second.as_string()));
                }
            } else if (msg.id == wire::MsgId::Cancel && !msg.keep_alive) {
                std::erase_if(requests_, [&](const wire::Message& r) {
                    return r.index == msg.index && r.begin == msg.begin && r.length == msg.length;
                });
            }
            in_.erase(0, consumed);  // after the last use of msg: its payload points into in_
        }
    }

    void send_state(wire::MsgId id) {
        std::string out;
        wire::encode_state(out, id);
        send(out);
    }

    // Writes all of `bytes`, turning the loop while the socket is full.
    void send(std::string_view bytes) {
        std::string pending(bytes);
        int error = 0;
        bool done = test_support::run_until(loop_, [&] {
            while (!pending.empty()) {
                ssize_t n = ::send(conn_.get(), pending.data(), pending.size(), MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
                if (n <= 0) return error != 0;
                pending.erase(0, static_cast<std::size_t>(n));
            }
            return true;
        });
        ASSERT_EQ(error, 0) << "send: " << std::strerror(error);
        ASSERT_TRUE(done) << "the downloader did not read what the seeder sent";
        ASSERT_TRUE(test_support::run_until_delivered(loop_, conn_.get()));
    }

    net::EventLoop& loop_;
    net::ManualClock& clock_;
    const proto::InfoDict& info_;
    const std::string& content_;
    net::Fd listen_;
    net::Endpoint address_;
    net::Fd conn_;
    std::string in_;
    bool closed_ = false;
    bool handshaken_ = false;
    std::deque<wire::Message> requests_;  // payload unused: requests carry none
    std::vector<std::string> tickets_;
};

class PeerSessionDeadlineTest : public test_support::LoopTest {
protected:
    void SetUp() override { testing::internal::CaptureStderr(); }
    void TearDown() override {
        downloader_.reset();
        seeder_.reset();
        const std::string& log = log_text();  // ends the capture
        if (HasFailure()) std::cout << "stderr of the test:\n" << log;
    }

    void start_downloader(SessionDeadlines deadlines) {
        auto store = PieceStore::open(dir_.file("file"), info_);
        ASSERT_TRUE(store.ok()) << store.error().message;
        Downloader::Callbacks cb;
        cb.on_complete = [this] { complete_ = true; };
        downloader_ =
            std::make_unique<Downloader>(loop_, workers_, "group", std::move(store).value(),
                                         wire::random_peer_id(), std::move(cb), deadlines);
    }

    // Starts the downloader with `deadlines`, and a seeder it connects to, which has read the
    // downloader's handshake and, if `greet`, answered with its own and a full bitfield.
    void start_with_seeder(SessionDeadlines deadlines, bool greet) {
        ASSERT_NO_FATAL_FAILURE(start_downloader(deadlines));
        seeder_ = std::make_unique<FakeSeeder>(loop_, clock_, info_, content_);
        downloader_->add_peers({seeder_->address()});
        ASSERT_TRUE(seeder_->accept_and_read_handshake());
        if (greet) {
            ASSERT_NO_FATAL_FAILURE(seeder_->send_handshake_and_bitfield());
        }
    }

    // Moves the clock on until the downloader has no session left; false if it still has one
    // `limit` later.
    bool advance_until_dropped(Clock::duration limit) {
        return advance_until([&] { return downloader_->peer_count() == 0; }, limit);
    }
    milliseconds since(Clock::time_point from) const { return ms_since(from, clock_.now()); }

    // The session is still there `by` later.
    void expect_kept_for(Clock::duration by) {
        ASSERT_FALSE(advance_until_dropped(by)) << "dropped";
        EXPECT_EQ(downloader_->peer_count(), 1u);
    }

    // The session is dropped `deadline` after `armed`, not before (nor later than kSlack past
    // it); `still` says what it was waiting for, if not.
    void expect_dropped_at(Clock::time_point armed, milliseconds deadline, const char* still) {
        ASSERT_FALSE(advance_until_dropped(armed + deadline - 1ns - clock_.now()))
            << "dropped before the deadline";
        ASSERT_TRUE(advance_until_dropped(kSlack)) << still;
        const auto elapsed = since(armed);
        EXPECT_GE(elapsed, deadline);
        EXPECT_LT(elapsed, deadline + kSlack);
    }

    // Everything logged so far (stderr is captured until the first call).
    const std::string& log_text() {
        if (!log_taken_) {
            log_ = testing::internal::GetCapturedStderr();
            log_taken_ = true;
        }
        return log_;
    }

    static std::string closed_line(const net::Endpoint& peer, std::string_view reason) {
        return "peer " + peer.to_string() + ": closed (" + std::string(reason) + ")";
    }

    // Five full pieces and a short last one: 12 blocks.
    std::string content_ = random_bytes(5 * kPiece + kBlock + 100, 7);
    proto::InfoDict info_ = info_for(content_, kPiece);
    WorkerPool workers_{loop_, 1};
    test::TempDir dir_;
    std::unique_ptr<Downloader> downloader_;
    std::unique_ptr<FakeSeeder> seeder_;
    bool complete_ = false;
    std::string log_;
    bool log_taken_ = false;
};

// --- handshake

TEST_F(PeerSessionDeadlineTest, SilentSeederIsDroppedWhenTheHandshakeDeadlinePasses) {
    const auto t0 = clock_.now();  // the handshake deadline is armed at this time
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.handshake = kDeadline}, /*greet=*/false));
    FakeSeeder& seeder = *seeder_;

    ASSERT_NO_FATAL_FAILURE(expect_dropped_at(t0, kDeadline, "still connected to a silent seeder"));
    EXPECT_TRUE(seeder.run_until([&] { return seeder.peer_closed(); }));
    EXPECT_THAT(log_text(), HasSubstr(closed_line(seeder.address(), "handshake timed out")));
}

TEST_F(PeerSessionDeadlineTest, SeederThatAnswersTheHandshakeWithinTheDeadlineIsKept) {
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.handshake = kLongDeadline}, /*greet=*/false));
    FakeSeeder& seeder = *seeder_;
    const auto hs_received = clock_.now();  // the deadline was armed at this time

    ASSERT_NO_FATAL_FAILURE(expect_kept_for(kPrompt));
    ASSERT_NO_FATAL_FAILURE(seeder.send_handshake_and_bitfield());
    ASSERT_NO_FATAL_FAILURE(seeder.send_unchoke());
    ASSERT_TRUE(seeder.wait_for_request()) << "no requests after the handshake";

    // Well past the handshake deadline, still connected.
    ASSERT_NO_FATAL_FAILURE(expect_kept_for(hs_received + 2 * kLongDeadline - clock_.now()));
    EXPECT_FALSE(seeder.peer_closed());
    EXPECT_THAT(log_text(), Not(HasSubstr("closed (")));
}

// --- block

TEST_F(PeerSessionDeadlineTest, SeederThatNeverSendsABlockIsDroppedWhenTheBlockDeadlinePasses) {
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.block = kDeadline}, /*greet=*/true));
    FakeSeeder& seeder = *seeder_;
    const auto unchoked = clock_.now();  // no request, so no block deadline, before the unchoke
    ASSERT_NO_FATAL_FAILURE(seeder.send_unchoke());
    ASSERT_TRUE(seeder.wait_for_request());
    const auto requested = clock_.now();

    ASSERT_NO_FATAL_FAILURE(
        expect_dropped_at(requested, kDeadline, "still connected to a stalled seeder"));
    const auto dropped = clock_.now();
    EXPECT_GE(ms_since(unchoked, dropped), kDeadline);
    EXPECT_LT(ms_since(requested, dropped), kDeadline + kSlack);
    EXPECT_TRUE(seeder.run_until([&] { return seeder.peer_closed(); }));
    EXPECT_THAT(log_text(), HasSubstr(closed_line(seeder.address(), "no block for too long")));
}

TEST_F(PeerSessionDeadlineTest, SeederThatSendsBlocksWellWithinTheDeadlineIsKeptToTheEnd) {
    constexpr milliseconds kEvery = 150ms;
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.block = kLongDeadline}, /*greet=*/true));
    FakeSeeder& seeder = *seeder_;
    ASSERT_NO_FATAL_FAILURE(seeder.send_unchoke());
    ASSERT_TRUE(seeder.wait_for_request());
    const auto requested = clock_.now();

    const std::size_t blocks = (content_.size() + kBlock - 1) / kBlock;
    for (std::size_t sent = 0; sent < blocks; ++sent) {
        ASSERT_FALSE(advance_until_dropped(kEvery)) << "dropped after " << sent << " blocks";
        ASSERT_TRUE(seeder.wait_for_request()) << "no request for block " << sent;
        ASSERT_NO_FATAL_FAILURE(seeder.send_oldest_block());
    }
    ASSERT_TRUE(run_until([&] { return complete_; }));

    // The whole transfer took longer than the block deadline, and no deadline cut it short.
    EXPECT_GE(blocks * kEvery, kLongDeadline + kLongDeadline / 2);  // long enough to show it
    EXPECT_GE(since(requested), blocks * kEvery);
    EXPECT_EQ(read_file(dir_.file("file")), content_);
    EXPECT_THAT(log_text(), Not(HasSubstr("closed (")));
}

// --- unchoke

TEST_F(PeerSessionDeadlineTest, SeederThatKeepsUsChokedIsDroppedWhenTheUnchokeDeadlinePasses) {
    const auto before_bitfield = clock_.now();  // we cannot want its pieces before this
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.unchoke = kDeadline}, /*greet=*/true));
    FakeSeeder& seeder = *seeder_;

    ASSERT_NO_FATAL_FAILURE(
        expect_dropped_at(before_bitfield, kDeadline, "still waiting to be unchoked"));
    EXPECT_TRUE(seeder.requests().empty());
    EXPECT_THAT(log_text(),
                HasSubstr(closed_line(seeder.address(), "kept us choked for too long")));
}

TEST_F(PeerSessionDeadlineTest,
       SeederThatUnchokesWithinTheDeadlineIsKeptAndOneThatChokesLaterIsNot) {
    ASSERT_NO_FATAL_FAILURE(start_with_seeder({.unchoke = kLongDeadline}, /*greet=*/true));
    FakeSeeder& seeder = *seeder_;
    const auto bitfield_sent = clock_.now();

    // Below: unchoked within a tenth of the deadline, so kept well past it (the block deadline
    // keeps its default of seconds, so unanswered requests do not end it either).
    ASSERT_NO_FATAL_FAILURE(expect_kept_for(kPrompt));
    ASSERT_NO_FATAL_FAILURE(seeder.send_unchoke());
    ASSERT_TRUE(seeder.wait_for_request()) << "no requests once unchoked";
    ASSERT_NO_FATAL_FAILURE(expect_kept_for(bitfield_sent + 2 * kLongDeadline - clock_.now()));

    // Past: choked again mid-download and left so, the session goes at the deadline.
    ASSERT_NO_FATAL_FAILURE(seeder.send_choke());
    const auto choked = clock_.now();
    ASSERT_NO_FATAL_FAILURE(
        expect_dropped_at(choked, kLongDeadline, "still waiting to be unchoked again"));
    EXPECT_GE(since(choked), kLongDeadline);
    // That is the only time the session closed.
    const std::string& log = log_text();
    EXPECT_THAT(log, HasSubstr(closed_line(seeder.address(), "kept us choked for too long")));
    EXPECT_EQ(log.find("closed ("), log.rfind("closed (")) << log;
}

// --- tickets

// Tickets live 30 s, so a download outlives many: the ticket connected seeders hold is renewed
// once it has less than half of its lifetime left (the lifetime it had when we got it, not a
// constant), not before; and at once when the newest is of a later membership epoch. Ticket
// times are Unix seconds of the loop's clock, which moves with the manual one.
TEST_F(PeerSessionDeadlineTest, ConnectedSeedersGetTheNewestTicketWhenTheHeldOneIsHalfwayGone) {
    ASSERT_NO_FATAL_FAILURE(start_downloader({}));
    const TicketSigner signer = TicketSigner::generate();
    constexpr std::int64_t kLife = 4;  // seconds
    auto issue = [&](std::int64_t expires, std::int64_t epoch) {
        return signer.sign(Ticket{"carol", "group", info_.info_hash, expires, epoch});
    };
    const std::int64_t first_expires = loop_.unix_now() + kLife;
    const std::string first = issue(first_expires, 0);
    downloader_->set_ticket(first, first_expires);
    FakeSeeder seeder(loop_, clock_, info_, content_);
    downloader_->add_peers({seeder.address()});
    ASSERT_TRUE(seeder.accept_and_read_handshake());
    ASSERT_NO_FATAL_FAILURE(seeder.send_handshake_and_bitfield());
    ASSERT_TRUE(seeder.run_until([&] { return !seeder.tickets().empty(); }));
    EXPECT_EQ(seeder.tickets(), std::vector<std::string>{first});

    // Below: more than half of its life left, a newer one is kept back (as the tracker hands
    // one out on every refresh).
    const std::int64_t second_expires = loop_.unix_now() + 2 * kLife;
    const std::string second = issue(second_expires, 0);
    downloader_->set_ticket(second, second_expires);
    seeder.advance(200ms);
    ASSERT_GT(first_expires - loop_.unix_now(), kLife / 2) << "more than half its life left";
    EXPECT_EQ(seeder.tickets().size(), 1u);
    // At half its life: the next refresh (the same newest ticket) sends it on.
    while (first_expires - loop_.unix_now() > kLife / 2) seeder.advance(100ms);
    downloader_->set_ticket(second, second_expires);
    ASSERT_TRUE(seeder.run_until([&] { return seeder.tickets().size() == 2; }));
    EXPECT_EQ(seeder.tickets().back(), second);
    downloader_->set_ticket(second, second_expires);
    seeder.advance(100ms);
    EXPECT_EQ(seeder.tickets().size(), 2u) << "sent once";

    // A later membership epoch: sent at once, though the held one is fresh.
    const std::string third = issue(loop_.unix_now() + 2 * kLife, 1);
    downloader_->set_ticket(third, loop_.unix_now() + 2 * kLife);
    ASSERT_TRUE(seeder.run_until([&] { return seeder.tickets().size() == 3; }));
    EXPECT_EQ(seeder.tickets().back(), third);
}

// --- connect

// A listener on 127.0.0.1 whose accept queue is full, so a further connect stays pending (Linux
// drops the SYN). `hangs` is false when the kernel would not keep a connect pending.
struct FullListener {
    net::Fd listener;
    net::Endpoint address;
    std::vector<net::Fd> fillers;  // connects never accepted, the last one still pending
    bool hangs = false;
};

FullListener fill_accept_queue() {
    FullListener full;
    auto fd = net::listen_tcp(net::Endpoint{"127.0.0.1", 0}, /*backlog=*/0);
    if (!fd) return full;
    full.listener = std::move(fd).value();
    auto at = net::local_endpoint(full.listener.get());
    if (!at) return full;
    full.address = *at;
    for (int i = 0; i < 16 && !full.hangs; ++i) {
        auto probe = net::connect_tcp(full.address);
        if (!probe) return full;
        // Real time, but only to learn whether the kernel keeps a connect pending (else the test
        // is skipped); the deadline itself is on the manual clock.
        pollfd p{probe->get(), POLLOUT, 0};
        full.hangs = ::poll(&p, 1, 200) == 0;  // still pending after 200 ms
        full.fillers.push_back(std::move(probe).value());
    }
    return full;
}

TEST_F(PeerSessionDeadlineTest, ConnectThatCannotCompleteIsDroppedWhenTheConnectDeadlinePasses) {
    FullListener full = fill_accept_queue();
    if (!full.hangs) {
        GTEST_SKIP() << "the kernel completed every connect to a listener with a full accept "
                        "queue, so no connect can be made to hang on 127.0.0.1";
    }
    ASSERT_NO_FATAL_FAILURE(start_downloader({.connect = kDeadline}));
    const auto t0 = clock_.now();  // the connect deadline is armed at this time
    downloader_->add_peers({full.address});
    ASSERT_EQ(downloader_->peer_count(), 1u);

    ASSERT_NO_FATAL_FAILURE(expect_dropped_at(t0, kDeadline, "still waiting for a hung connect"));
    EXPECT_THAT(log_text(), HasSubstr(closed_line(full.address, "connect timed out")));
}

// --- slow peers (the downloader's ranking, peer/download/peer_ranking.hpp)

// What the e2e test slow_peers_test.cpp stands for, on the manual clock: seeders that drip a
// block every kDrip (under the block deadline, so that deadline never drops them) are dropped
// by the ranking as too slow, the blocks they held go to the good seeder, and the download takes
// as long as the good seeder alone needs. The client's own RankingLimits and SessionDeadlines.
TEST_F(PeerSessionDeadlineTest, DrippingSeedersAreDroppedAsTooSlowAndTheGoodOneFinishes) {
    constexpr RankingLimits kRanking{};
    constexpr SessionDeadlines kSessions{};
    constexpr int kDrippers = 3;
    constexpr milliseconds kDrip = 2s;                 // a dripper's block, from kDrip on
    constexpr milliseconds kStep = 100ms;              // the test moves the clock by this much
    constexpr int kGoodPerStep = 1;                    // blocks the good seeder sends in each step
    constexpr auto kGoodEvery = kStep / kGoodPerStep;  // so 160 KiB/s
    constexpr int kBlocks = 120;                       // 60 pieces of 2 blocks: 1.875 MiB
    // The block deadline never drops a dripper: a block comes before it runs out.
    static_assert(kDrip < kSessions.block);
    // A dripper delivers at most a block per tick (kDrip >= tick), so at most kBlock/tick; it is
    // slow while that is under the good seeder's kBlock/kGoodEvery divided by slow_factor.
    static_assert(kDrip >= kRanking.tick);
    static_assert(kGoodEvery * kRanking.slow_factor < kRanking.tick);
    // Drop: the first tick (at `tick`) measures the good seeder and finds each dripper, which
    // has had requests out and delivered nothing yet, slow; the tick slow_for later drops it (so
    // at tick + slow_for exactly; one more tick of margin, should the first tick not judge it).
    constexpr auto kDropBy = 2 * kRanking.tick + kRanking.slow_for;
    // The good seeder alone needs kBlocks * kGoodEvery (12 s); the drippers hold a few dozen
    // blocks at most, so the good seeder is still fetching Missing blocks (no endgame) when
    // they are dropped, and it is their drop, not an endgame duplicate, that frees them.
    static_assert(kDropBy < kBlocks * kGoodEvery / 2);
    // Complete: the blocks come from the good seeder at kGoodEvery (it always has requests out,
    // at least kMinInFlight, and the drop hands it the drippers' blocks while it is still busy,
    // so they cost it no wait), plus a tick of margin. Were the drippers kept, the blocks they
    // hold would come one per kDrip each, or wait for the endgame.
    constexpr auto kCompleteBy = kBlocks * kGoodEvery + kRanking.tick;

    content_ = random_bytes(std::size_t{kBlocks} * kBlock, 11);
    info_ = info_for(content_, kPiece);
    const auto t0 = clock_.now();  // the ranking ticks from here
    ASSERT_NO_FATAL_FAILURE(start_downloader(kSessions));
    FakeSeeder good(loop_, clock_, info_, content_);
    std::vector<std::unique_ptr<FakeSeeder>> drippers;
    std::vector<net::Endpoint> addresses{good.address()};
    for (int i = 0; i < kDrippers; ++i) {
        drippers.push_back(std::make_unique<FakeSeeder>(loop_, clock_, info_, content_));
        addresses.push_back(drippers.back()->address());
    }
    downloader_->add_peers(addresses);
    std::vector<FakeSeeder*> all{&good};
    for (auto& d : drippers) all.push_back(d.get());
    for (FakeSeeder* s : all) {
        ASSERT_TRUE(s->accept_and_read_handshake());
        ASSERT_NO_FATAL_FAILURE(s->send_handshake_and_bitfield());
        ASSERT_NO_FATAL_FAILURE(s->send_unchoke());
    }

    struct Dripper {
        Clock::time_point next_drip;
        int dripped = 0;
        std::optional<Clock::time_point> dropped_at;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> held;  // index, begin at the drop
    };
    std::vector<Dripper> state(kDrippers, Dripper{.next_drip = t0 + kDrip});
    std::set<std::pair<std::uint32_t, std::uint32_t>> from_good;
    while (!complete_ && clock_.now() - t0 <= kCompleteBy) {
        // Pieces are checked on a worker: their verdicts come in before the clock moves on.
        ASSERT_TRUE(run_until([&] { return downloader_->pieces_being_verified() == 0; }));
        run_until_idle();
        for (int k = 0; k < kGoodPerStep && !good.peer_closed() && !good.requests().empty(); ++k) {
            from_good.emplace(good.requests().front().index, good.requests().front().begin);
            ASSERT_NO_FATAL_FAILURE(good.send_oldest_block());
        }
        for (std::size_t i = 0; i < state.size(); ++i) {
            FakeSeeder& d = *drippers[i];
            Dripper& s = state[i];
            if (s.dropped_at) continue;
            if (d.peer_closed()) {
                s.dropped_at = clock_.now();
                for (const auto& r : d.requests()) s.held.emplace_back(r.index, r.begin);
            } else if (clock_.now() >= s.next_drip && !d.requests().empty()) {
                ASSERT_NO_FATAL_FAILURE(d.send_oldest_block());
                ++s.dripped;
                s.next_drip += kDrip;
            }
        }
        advance(kStep);
    }
    ASSERT_TRUE(run_until([&] { return complete_; }))
        << "not complete " << ms_since(t0, clock_.now()).count() << " ms in";
    EXPECT_LE(clock_.now() - t0, kCompleteBy);
    EXPECT_EQ(read_file(dir_.file("file")), content_);

    // The start of a session's close line, up to and with `reason`.
    const auto closed_for = [](const net::Endpoint& peer, std::string_view reason) {
        std::string line = closed_line(peer, reason);
        line.pop_back();  // the ')' after the reason
        return line;
    };
    const std::string& log = log_text();
    for (std::size_t i = 0; i < state.size(); ++i) {
        const Dripper& s = state[i];
        SCOPED_TRACE("dripper " + std::to_string(i));
        EXPECT_GT(s.dripped, 0) << "never asked: the test shows nothing";
        ASSERT_TRUE(s.dropped_at.has_value()) << "not dropped";
        EXPECT_GE(*s.dropped_at - t0, kRanking.tick + kRanking.slow_for);
        EXPECT_LE(*s.dropped_at - t0, kDropBy);
        EXPECT_THAT(log, HasSubstr(closed_for(drippers[i]->address(), "too slow: ")));
        EXPECT_FALSE(s.held.empty()) << "held no blocks when dropped";
        for (const auto& block : s.held) {
            EXPECT_EQ(from_good.count(block), 1u)
                << "block " << block.first << "+" << block.second << " not fetched again";
        }
    }
    EXPECT_THAT(log, Not(HasSubstr(closed_for(good.address(), ""))));
}

}  // namespace
}  // namespace gs::peer
