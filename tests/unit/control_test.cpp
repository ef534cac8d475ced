// ControlServer (peer/control.hpp): the control socket of a running client, on a loop with a
// manual clock. A controller's line reaches the owner, whose output and status come back in
// order; a connection that does not send its line is closed at the deadline, exactly; a
// controller that leaves mid-command does not stop the command's `then`; the socket is
// owner-only and goes with the server.
#include "peer/control.hpp"
#include "shared/net/fd.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace gs::peer {
namespace {

using namespace std::chrono_literals;

class ControlServerTest : public test_support::LoopTest {
protected:
    void SetUp() override {
        auto opened = ControlServer::open(loop_, dir_.path(),
                                          [this](ControlServer::RequestId id, std::string line) {
                                              requests_.push_back({id, std::move(line)});
                                          });
        ASSERT_TRUE(opened) << opened.error().message;
        server_ = std::move(opened).value();
    }

    // A non-blocking connection to the server's socket.
    net::Fd connect() {
        net::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string path = socket_path();
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
            << path << ": " << std::strerror(errno);
        return fd;
    }

    std::string socket_path() const { return dir_.file(kControlSocketName); }

    // What has arrived on `fd`; sets `closed` once the server has closed it.
    static std::string drain(int fd, bool& closed) {
        std::string got;
        char buf[4096];
        while (true) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            closed = n == 0;
            return got;
        }
    }

    struct Request {
        ControlServer::RequestId id;
        std::string line;
    };

    test::TempDir dir_;
    std::unique_ptr<ControlServer> server_;
    std::vector<Request> requests_;
};

TEST_F(ControlServerTest, ALineGoesToTheOwnerAndItsOutputAndStatusComeBack) {
    net::Fd c = connect();
    ASSERT_EQ(::write(c.get(), "list_files g\n", 13), 13);
    ASSERT_TRUE(run_until([&] { return !requests_.empty(); }));
    EXPECT_EQ(requests_[0].line, "list_files g");
    server_->output(requests_[0].id, "a.bin  1.0 KiB");
    server_->output(requests_[0].id, "error: two\nlines");  // one line it stays
    bool then_ran = false;
    server_->finish(requests_[0].id, true, [&] { then_ran = true; });
    std::string got;
    bool closed = false;
    ASSERT_TRUE(run_until([&] {
        got += drain(c.get(), closed);
        return closed && then_ran;  // `then` runs from the loop, after the answer is out
    }));
    EXPECT_EQ(got, "o a.bin  1.0 KiB\no error: two lines\ns 1\n");
}

TEST_F(ControlServerTest, AConnectionThatSendsNoLineIsClosedAtTheDeadline) {
    net::Fd c = connect();
    ASSERT_EQ(::write(c.get(), "half a li", 9), 9);
    bool closed = false;
    advance(ControlLimits{}.line_timeout - 1ms);
    drain(c.get(), closed);
    EXPECT_FALSE(closed);
    advance(1ms);
    ASSERT_TRUE(run_until([&] {
        drain(c.get(), closed);
        return closed;
    }));
    EXPECT_TRUE(requests_.empty());
}

TEST_F(ControlServerTest, AControllerThatLeavesMidCommandStillLetsItsThenRun) {
    {
        net::Fd c = connect();
        ASSERT_EQ(::write(c.get(), "show_downloads\n", 15), 15);
        ASSERT_TRUE(run_until([&] { return !requests_.empty(); }));
    }                  // the controller goes
    run_until_idle();  // the hung-up socket must not keep the loop busy
    server_->output(requests_[0].id, "(no downloads in this session)");
    bool then_ran = false;
    server_->finish(requests_[0].id, false, [&] { then_ran = true; });
    ASSERT_TRUE(run_until([&] { return then_ran; }));
}

TEST_F(ControlServerTest, TheSocketIsOwnerOnlyAndGoesWithTheServer) {
    struct stat st {};
    ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    server_.reset();
    EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

TEST_F(ControlServerTest, AStaleSocketFileIsReplaced) {
    server_.reset();
    // A client killed with SIGKILL leaves its socket file behind.
    net::Fd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path().c_str(), socket_path().size() + 1);
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    stale.reset();
    SetUp();
    net::Fd c = connect();
    ASSERT_EQ(::write(c.get(), "echo x\n", 7), 7);
    ASSERT_TRUE(run_until([&] { return !requests_.empty(); }));
}

}  // namespace
}  // namespace gs::peer
