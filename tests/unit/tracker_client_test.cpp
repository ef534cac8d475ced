// peer::TrackerClient against real tracker::Servers on 127.0.0.1 whose sink answers every
// request: a tracker that closes an idle link (it says so in a last frame) is reconnected to
// quietly, with no fail-over, while a tracker that goes away is failed over from. The loop runs
// on a ManualClock: the idle timeout fires when the test moves the clock, in no real time.
#include "peer/tracker_client.hpp"

#include "shared/config.hpp"
#include "shared/net/socket.hpp"
#include "shared/net/tls.hpp"
#include "shared/proto/bencode.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tracker/server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gs::peer {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr auto kIdle = 10s;

// Answers every request {"seq": n, "ok": 1}; counts connections.
struct AnswerAll final : tracker::FrameSink {
    AnswerAll(tracker::ConnOutput& output, int& connections) : out(output), connects(connections) {}
    void on_connect(tracker::ConnId, const std::string&, const std::string&) override {
        ++connects;
    }
    void on_frame(tracker::ConnId id, std::string_view body) override {
        auto request = proto::decode(body);
        if (!request || !request->is_dict()) return;
        out.send(id, proto::encode(proto::Value(
                         proto::Dict{{"seq", request->get_int("seq").value_or(0)}, {"ok", 1}})));
    }
    void on_oversized_frame(tracker::ConnId, std::uint32_t) override {}
    void on_disconnect(tracker::ConnId, std::string_view) override {}

    tracker::ConnOutput& out;
    int& connects;
};

class TrackerClientTest : public test_support::LoopTest {
protected:
    struct Tracker {
        std::unique_ptr<tracker::Server> server;
        TrackerEntry entry;
        int connects = 0;
    };

    void SetUp() override {
        for (int i = 0; i < 2; ++i) start_tracker(i);
        auto known = KnownTrackers::parse("", dir_.file("known_trackers"));
        ASSERT_TRUE(known) << known.error().message;
        TrackerClient::Callbacks callbacks;
        callbacks.on_switched = [this](std::string_view from, std::string_view to) {
            switches_.push_back(std::string(from) + " -> " + std::string(to));
        };
        // No shuffle: tracker 0 first.
        client_ = std::make_unique<TrackerClient>(
            loop_, std::vector<TrackerEntry>{trackers_[0].entry, trackers_[1].entry},
            TrackerClient::Pins{"tracker_info.txt", std::move(known).value()}, callbacks,
            std::nullopt);
    }

    void TearDown() override {
        client_.reset();
        for (auto& t : trackers_) t.server.reset();
    }

    void start_tracker(int i) {
        auto identity =
            net::load_or_create_tls_identity(dir_.file("tracker" + std::to_string(i) + ".db"));
        ASSERT_TRUE(identity) << identity.error().message;
        auto tls = net::TlsContext::server(*identity);
        ASSERT_TRUE(tls) << tls.error().message;
        tls_.push_back(std::make_unique<net::TlsContext>(std::move(tls).value()));
        auto listener = net::listen_tcp(net::Endpoint{"127.0.0.1", 0});
        ASSERT_TRUE(listener) << listener.error().message;
        auto at = net::local_endpoint(listener->get());
        ASSERT_TRUE(at);
        Tracker& t = trackers_[i];
        t.entry = TrackerEntry{*at, i + 1, identity->fingerprint};
        tracker::ServerLimits limits;
        limits.idle_timeout = kIdle;
        t.server = std::make_unique<tracker::Server>(
            loop_, std::move(listener).value(), *tls_.back(),
            [&t](tracker::ConnOutput& out) { return std::make_unique<AnswerAll>(out, t.connects); },
            limits);
    }

    // Sends one request and runs the loop until it is answered; whether it succeeded.
    bool request_answered() {
        std::optional<bool> ok;
        client_->request({{"op", "ping"}}, [&](Result<proto::Value> reply) { ok = reply.ok(); });
        EXPECT_TRUE(run_until([&] { return ok.has_value(); }));
        return ok.value_or(false);
    }

    std::string address(int i) const { return trackers_[i].entry.endpoint.to_string(); }

    test::TempDir dir_;
    std::vector<std::unique_ptr<net::TlsContext>> tls_;
    Tracker trackers_[2];
    std::unique_ptr<TrackerClient> client_;
    std::vector<std::string> switches_;
};

TEST_F(TrackerClientTest, ALinkTheTrackerClosesForIdlenessIsReopenedOnTheSameTrackerQuietly) {
    client_->start();
    ASSERT_TRUE(run_until([&] { return client_->is_ready(); }));
    ASSERT_EQ(client_->current_tracker(), address(0));
    ASSERT_TRUE(request_answered());

    // Nothing is asked for kIdle: tracker 0 says why and closes the link.
    advance(kIdle);
    ASSERT_TRUE(run_until([&] { return trackers_[0].connects == 2 && client_->is_ready(); }));
    EXPECT_EQ(client_->current_tracker(), address(0));
    EXPECT_EQ(trackers_[1].connects, 0);
    EXPECT_THAT(switches_, IsEmpty()) << "an idle close is no fail-over";
    EXPECT_TRUE(request_answered());

    // And again: each idle close leaves the tier where it was.
    advance(kIdle);
    ASSERT_TRUE(run_until([&] { return trackers_[0].connects == 3 && client_->is_ready(); }));
    EXPECT_EQ(client_->current_tracker(), address(0));
    EXPECT_THAT(switches_, IsEmpty());
}

TEST_F(TrackerClientTest, ATrackerThatGoesAwayIsFailedOverFrom) {
    client_->start();
    ASSERT_TRUE(run_until([&] { return client_->is_ready(); }));
    ASSERT_EQ(client_->current_tracker(), address(0));

    trackers_[0].server.reset();  // its link drops without a word; its port refuses
    ASSERT_TRUE(run_until([&] { return !switches_.empty() && client_->is_ready(); }));
    EXPECT_THAT(switches_, ElementsAre(address(0) + " -> " + address(1)));
    EXPECT_EQ(client_->current_tracker(), address(1));
    EXPECT_TRUE(request_answered());
}

}  // namespace
}  // namespace gs::peer
