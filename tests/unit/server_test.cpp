// tracker::Server's connection limits (tracker/server.hpp ServerLimits): the total cap, the cap
// per address and the idle timeout, each at and past its bound, with small values. A real
// Server on 127.0.0.1 in one EventLoop; the test's clients are plain TCP sockets that never
// start TLS, so the only thing that can close them early is a limit. The loop runs on a
// ManualClock: the idle timeout is checked at its exact time, in no real time.
#include "tracker/server.hpp"

#include "shared/net/event_loop.hpp"
#include "shared/net/socket.hpp"
#include "shared/net/tls.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Sends this process's stderr (where log lines go) to a temp file while it lives.
class StderrCapture {
public:
    StderrCapture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
        ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~StderrCapture() {
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        std::fclose(file_);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    std::string text() const {
        std::string out;
        char buf[4096];
        ssize_t n = 0;
        for (off_t at = 0; (n = ::pread(::fileno(file_), buf, sizeof buf, at)) > 0; at += n) {
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    std::FILE* file_;
    int saved_;
};

// A plain TCP socket from `source` to the server; it never sends anything.
struct TcpClient {
    net::Fd fd;
    std::uint16_t local_port = 0;

    // Whether the server has closed it (EOF or reset), without waiting.
    bool is_closed_by_server() const {
        char c;
        ssize_t n = ::recv(fd.get(), &c, 1, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
};

// The limits alone are under test: frames and connection events are ignored.
struct IgnoreFrames final : FrameSink {
    void on_connect(ConnId, const std::string&, const std::string&) override {}
    void on_frame(ConnId, std::string_view) override {}
    void on_oversized_frame(ConnId, std::uint32_t) override {}
    void on_disconnect(ConnId, std::string_view) override {}
};

// Keeps the reason each connection was closed with (what the Dispatcher logs).
struct RecordDisconnects final : FrameSink {
    explicit RecordDisconnects(std::vector<std::string>& reasons) : reasons_(reasons) {}
    void on_connect(ConnId, const std::string&, const std::string&) override {}
    void on_frame(ConnId, std::string_view) override {}
    void on_oversized_frame(ConnId, std::uint32_t) override {}
    void on_disconnect(ConnId, std::string_view reason) override { reasons_.emplace_back(reason); }
    std::vector<std::string>& reasons_;
};

class ServerLimitsTest : public test_support::LoopTest {
protected:
    void SetUp() override {
        auto identity = net::load_or_create_tls_identity(dir_.file("tracker.db"));
        ASSERT_TRUE(identity) << identity.error().message;
        auto tls = net::TlsContext::server(*identity);
        ASSERT_TRUE(tls) << tls.error().message;
        tls_.emplace(std::move(tls).value());
    }

    void TearDown() override {
        clients_.clear();
        server_.reset();
    }

    void start(
        ServerLimits limits,
        Server::MakeSink make_sink = [](ConnOutput&) { return std::make_unique<IgnoreFrames>(); }) {
        auto listener = net::listen_tcp(net::Endpoint{"127.0.0.1", 0});
        ASSERT_TRUE(listener) << listener.error().message;
        auto at = net::local_endpoint(listener->get());
        ASSERT_TRUE(at);
        port_ = at->port;
        server_ = std::make_unique<Server>(loop_, std::move(listener).value(), *tls_,
                                           std::move(make_sink), limits);
    }

    // Connects from `source` (any 127.x.y.z works on Linux loopback); the connect completes
    // in the kernel's backlog, before the server accepts it.
    TcpClient& connect_from(const std::string& source) {
        TcpClient c;
        c.fd = net::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
        sockaddr_in to = net::Endpoint{"127.0.0.1", port_}.to_sockaddr();
        EXPECT_EQ(::bind(c.fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
        EXPECT_EQ(::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0)
            << std::strerror(errno);
        if (auto local = net::local_endpoint(c.fd.get())) c.local_port = local->port;
        clients_.push_back(std::make_unique<TcpClient>(std::move(c)));
        return *clients_.back();
    }

    std::size_t open_clients() const {
        std::size_t n = 0;
        for (const auto& c : clients_) n += c->is_closed_by_server() ? 0 : 1;
        return n;
    }

    test::TempDir dir_;
    std::optional<net::TlsContext> tls_;
    std::vector<std::string> closed_reasons_;  // by RecordDisconnects; outlives server_
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
    std::vector<std::unique_ptr<TcpClient>> clients_;
};

TEST_F(ServerLimitsTest, ConnectionsUpToTheTotalCapAreKeptAndTheNextIsRefusedWithAReason) {
    StderrCapture log;
    ServerLimits limits;
    limits.max_connections = 3;
    start(limits);
    // Below and at the cap, from different addresses so the per-address cap plays no part.
    for (int i = 1; i <= 3; ++i) connect_from("127.0.3." + std::to_string(i));
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 3; }));

    TcpClient& over = connect_from("127.0.3.4");
    ASSERT_TRUE(run_until([&] { return over.is_closed_by_server(); }));
    EXPECT_EQ(server_->connection_count(), 3u);
    EXPECT_EQ(open_clients(), 3u);
    EXPECT_THAT(log.text(),
                HasSubstr("warn: refusing 127.0.3.4:" + std::to_string(over.local_port) +
                          ": connection limit 3 reached\n"));

    // A slot freed by a client that leaves can be taken again.
    clients_.front()->fd.reset();
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 2; }));
    connect_from("127.0.3.5");
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 3; }));
}

TEST_F(ServerLimitsTest, ConnectionsUpToThePerAddressCapAreKeptAndOtherAddressesAreNotAffected) {
    StderrCapture log;
    ServerLimits limits;
    limits.max_per_address = 2;
    start(limits);
    connect_from("127.0.4.1");
    connect_from("127.0.4.1");
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 2; }));

    TcpClient& over = connect_from("127.0.4.1");
    ASSERT_TRUE(run_until([&] { return over.is_closed_by_server(); }));
    EXPECT_THAT(log.text(),
                HasSubstr("warn: refusing 127.0.4.1:" + std::to_string(over.local_port) +
                          ": 2 connections from 127.0.4.1 already, the limit per address\n"));
    connect_from("127.0.4.2");
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 3; }));
    EXPECT_EQ(open_clients(), 3u);
}

// The tracker builds its Server with the default limits: a connection that never starts its TLS
// handshake is closed at kTlsHandshakeTimeout (10 s) after it was accepted, not before, with
// the reason the Dispatcher logs (tests/e2e/tls_test.cpp sees the same close on the real tracker).
TEST_F(ServerLimitsTest, ByDefaultAConnectionWithoutAHandshakeIsClosedAtTheTlsHandshakeTimeout) {
    start(ServerLimits{},
          [this](ConnOutput&) { return std::make_unique<RecordDisconnects>(closed_reasons_); });
    ASSERT_EQ(net::kTlsHandshakeTimeout, 10s);
    TcpClient& silent = connect_from("127.0.6.1");
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 1; }));
    advance(net::kTlsHandshakeTimeout - 1ns);
    EXPECT_EQ(server_->connection_count(), 1u) << "closed before the handshake timeout";
    EXPECT_FALSE(silent.is_closed_by_server());
    advance(1ns);
    EXPECT_EQ(server_->connection_count(), 0u) << "not closed at the handshake timeout";
    ASSERT_TRUE(run_until([&] { return silent.is_closed_by_server(); }));
    EXPECT_THAT(closed_reasons_, ElementsAre("tls handshake timed out"));
}

TEST_F(ServerLimitsTest, ClientsAreClosedAfterTheIdleTimeoutLongBeforeTheHandshakeTimeout) {
    ServerLimits limits;
    limits.idle_timeout = 300ms;
    start(limits);
    const auto t0 = clock_.now();
    TcpClient& idle = connect_from("127.0.5.1");
    ASSERT_TRUE(run_until([&] { return server_->connection_count() == 1; }));
    advance(300ms - 1ns);
    EXPECT_EQ(server_->connection_count(), 1u) << "closed before the idle timeout";
    EXPECT_FALSE(idle.is_closed_by_server());
    advance(1ns);
    EXPECT_EQ(server_->connection_count(), 0u) << "not closed at the idle timeout";
    ASSERT_TRUE(run_until([&] { return idle.is_closed_by_server(); }));
    EXPECT_GE(clock_.now() - t0, 300ms);
    EXPECT_LT(clock_.now() - t0, net::kTlsHandshakeTimeout);
    EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
}

}  // namespace
}  // namespace gs::tracker
