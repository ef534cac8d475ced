// Nothing secret in clear between client and tracker (docs/protocol.md §1.4, issue #5): the link
// is TLS 1.3, a recording relay in the middle sees no password, token or ticket; clients pin the
// tracker's key on first use (known_trackers) or from tracker_info.txt, and refuse a changed key
// with one clear error instead of retrying; a peer that never finishes its handshake is dropped.
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace gs::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::StartsWith;

const std::string kZeroPin = "sha256:" + std::string(64, '0');

void write_text(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good()) << path;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Lines of `p`'s stderr that contain `needle`.
std::size_t count_stderr(Process& p, const std::string& needle) {
    auto lines = p.stderr_lines();
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
        return l.find(needle) != std::string::npos;
    }));
}

// A TCP relay on 127.0.0.1 between clients and the tracker that keeps a copy of every byte it
// passes, per connection and direction. One thread accepts and relays (poll) until destroyed;
// the test thread reads the recording under the mutex.
class RecordingProxy {
public:
    struct Stream {
        std::string to_tracker;
        std::string to_client;
    };

    explicit RecordingProxy(std::uint16_t tracker_port) : tracker_port_(tracker_port) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
            ::listen(listen_fd_, 16) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
            fail_with_dump("proxy: cannot listen", std::source_location::current());
        }
        port_ = ntohs(sa.sin_port);
        stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
        thread_ = std::thread([this] { run(); });
    }

    ~RecordingProxy() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
        thread_.join();
        for (auto& l : links_) {
            ::close(l.client);
            ::close(l.tracker);
        }
        ::close(listen_fd_);
        ::close(stop_fd_);
    }

    std::uint16_t port() const { return port_; }

    std::vector<Stream> streams() const {
        std::lock_guard lock(mu_);
        return streams_;
    }

private:
    struct Link {
        int client;
        int tracker;
        std::size_t stream;  // index into streams_
        bool open;
    };

    void accept_one() {
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) return;
        int tracker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(tracker_port_);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(tracker, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            ::close(tracker);
            ::close(client);
            return;
        }
        std::lock_guard lock(mu_);
        streams_.emplace_back();
        links_.push_back(Link{client, tracker, streams_.size() - 1, true});
    }

    // Moves what `from` has to `to`, keeping a copy; false once either side is done.
    bool relay(int from, int to, std::size_t stream, bool toward_tracker) {
        char buf[65536];
        ssize_t n = ::recv(from, buf, sizeof buf, 0);
        if (n <= 0) return false;
        {
            std::lock_guard lock(mu_);
            auto& s = streams_[stream];
            (toward_tracker ? s.to_tracker : s.to_client).append(buf, static_cast<std::size_t>(n));
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::send(to, buf + done, static_cast<std::size_t>(n - done), MSG_NOSIGNAL);
            if (w <= 0) return false;
            done += w;
        }
        return true;
    }

    void run() {
        while (true) {
            std::vector<pollfd> fds{{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
            std::vector<std::size_t> owners;  // link index of fds[2 + 2i], fds[3 + 2i]
            for (std::size_t i = 0; i < links_.size(); ++i) {
                if (!links_[i].open) continue;
                fds.push_back({links_[i].client, POLLIN, 0});
                fds.push_back({links_[i].tracker, POLLIN, 0});
                owners.push_back(i);
            }
            if (::poll(fds.data(), fds.size(), -1) < 0) continue;
            if (fds[0].revents != 0) return;
            if (fds[1].revents != 0) accept_one();
            for (std::size_t k = 0; k < owners.size(); ++k) {
                Link& l = links_[owners[k]];
                bool ok = true;
                if (fds[2 + 2 * k].revents != 0) ok = relay(l.client, l.tracker, l.stream, true);
                if (ok && fds[3 + 2 * k].revents != 0) {
                    ok = relay(l.tracker, l.client, l.stream, false);
                }
                if (!ok) {
                    // Either end left: so does the other, as with a direct connection.
                    l.open = false;
                    ::shutdown(l.client, SHUT_RDWR);
                    ::shutdown(l.tracker, SHUT_RDWR);
                }
            }
        }
    }

    std::uint16_t tracker_port_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;
    int stop_fd_ = -1;
    std::vector<Link> links_;  // proxy thread only
    mutable std::mutex mu_;
    std::vector<Stream> streams_;
    std::thread thread_;
};

bool starts_with_tls_handshake_record(const std::string& bytes) {
    return bytes.size() >= 5 && bytes[0] == 0x16 && bytes[1] == 0x03;
}

class TlsTest : public E2eTest {
protected:
    fs::path known_trackers(const Client& c) const { return dir_ / c.name() / "known_trackers"; }

    // What a client prints when the tracker presents `presented` but `known` pins `pinned`.
    std::string changed_key_error(const std::string& presented, const fs::path& known,
                                  const std::string& pinned) const {
        return "error: tracker " + tracker_.address() + " presented a different key (" + presented +
               ") than the one pinned in " + known.string() + " (" + pinned +
               "); if the tracker was reinstalled on purpose, delete line 1 of that file and "
               "start the client again; otherwise someone may be intercepting the connection";
    }

    std::string info_pin_error(const std::string& pinned) const {
        return "error: tracker " + tracker_.address() + " presented a different key (" +
               tracker_.fingerprint() + ") than the one pinned in " +
               tracker_.client_info_path().string() + " line 1 (" + pinned +
               "); if the tracker was reinstalled on purpose, put its new fingerprint on that "
               "line; otherwise someone may be intercepting the connection";
    }

    // Stops the tracker, removes its TLS key and certificate (as a reinstall would) and starts
    // it again on the same port and database: it makes a new key.
    void reinstall_tracker_key() {
        tracker_.quit();
        const std::string base = tracker_.files_base();
        ASSERT_TRUE(fs::remove(base + ".tls-key.pem"));
        ASSERT_TRUE(fs::remove(base + ".tls-cert.pem"));
        tracker_.restart();
    }
};

TEST_F(TlsTest, RecordingProxyBetweenClientAndTrackerSeesNoPasswordTokenOrTicket) {
    RecordingProxy proxy(tracker_.port());
    write_text(tracker_.client_info_path(), "127.0.0.1:" + std::to_string(proxy.port()) + "\n");
    const std::string alice_pw = "Tr0ub4dor-and-3-horses";
    const std::string bob_pw = "correct-horse-battery-staple";

    Client& alice = new_client();
    alice.must("create_user alice " + alice_pw, "user alice created");
    alice.must("login alice " + alice_pw, "logged in as alice");
    alice.must("logout", "logged out alice");
    alice.must("login alice " + alice_pw, "logged in as alice");
    alice.must("create_group vault", "group vault created; you are its owner");
    Client& bob = new_client();
    bob.must("create_user bob " + bob_pw, "user bob created");
    bob.must("login bob " + bob_pw, "logged in as bob");
    bob.must("join_group vault", "join request sent to the owner of group vault");
    alice.must("accept_request vault bob", "bob is now a member of group vault");

    // A download: get_file hands bob a ticket signed by the tracker.
    const std::string content = "the plans, which only group vault may read\n";
    const fs::path src = dir_ / "src" / "plans.txt";
    write_text(src, content);
    auto shared = alice.run("upload_file " + src.string() + " vault", Duration{30000});
    ASSERT_FALSE(shared.empty());
    EXPECT_THAT(shared.back(), StartsWith("shared plans.txt in group vault"));
    const fs::path dest = dir_ / "down" / "plans.txt";
    fs::create_directories(dest.parent_path());
    bob.run("download_file vault plans.txt " + dest.string());
    bob.process().wait_for_line(R"(^\[C\] \[vault\] plans\.txt  -> )", Duration{30000});
    EXPECT_EQ(read_text(dest), content);
    alice.quit();
    bob.quit();

    auto streams = proxy.streams();
    ASSERT_GE(streams.size(), 2u) << "the clients did not go through the proxy";
    std::string all;
    for (const auto& s : streams) {
        // Each connection opens with a TLS handshake record both ways (ClientHello, ServerHello).
        EXPECT_TRUE(starts_with_tls_handshake_record(s.to_tracker)) << s.to_tracker.size();
        EXPECT_TRUE(starts_with_tls_handshake_record(s.to_client)) << s.to_client.size();
        all += s.to_tracker;
        all += s.to_client;
    }
    EXPECT_GT(all.size(), 2000u);
    // The passwords, and the names of the fields that carry secrets (the token and tickets are
    // random, so their field names stand for them), and anything else a request says.
    for (const std::string& secret :
         {alice_pw, bob_pw, std::string("password"), std::string("token"), std::string("ticket"),
          std::string("login"), std::string("create_user"), std::string("get_file"),
          std::string("info_hash"), std::string("plans.txt"), std::string("vault"),
          std::string("alice")}) {
        EXPECT_EQ(all.find(secret), std::string::npos) << "'" << secret << "' crossed in clear";
    }
}

TEST_F(TlsTest, FirstConnectionPinsTheTrackersKeyInKnownTrackers) {
    Client& alice = logged_in("alice");
    EXPECT_EQ(read_text(known_trackers(alice)),
              tracker_.address() + " " + tracker_.fingerprint() + "\n");
    alice.process().wait_for_stderr_line("pinned tracker " + tracker_.address() + " key " +
                                         tracker_.fingerprint());
    // A restart keeps the key: the pinned client carries on.
    tracker_.quit();
    tracker_.restart();
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("group books created; you are its owner"));
    EXPECT_EQ(count_stderr(alice.process(), "pinned tracker"), 1u);
}

TEST_F(TlsTest, ChangedKeyIsRefusedWithOneClearErrorAndNoMoreAttempts) {
    Client& alice = logged_in("alice");
    const std::string old_key = tracker_.fingerprint();
    reinstall_tracker_key();
    const std::string new_key = tracker_.fingerprint();
    ASSERT_NE(new_key, old_key);

    // The client reconnects by itself, meets the new key and says so once, unprompted.
    const std::string expected = changed_key_error(new_key, known_trackers(alice), old_key);
    EXPECT_EQ(alice.process().wait_for_line("^error: tracker "), expected);
    // It does not go on: every command that needs the tracker gets the same answer at once.
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(expected));
    EXPECT_THAT(alice.run("create_group books"), ElementsAre(expected));

    // Meanwhile a new client pins the new key and works; two argon2 hashes take long enough
    // that a client retrying in a loop would have come back several times.
    Client& bob = new_client();
    bob.must("create_user bob pw", "user bob created");
    bob.must("login bob pw", "logged in as bob");
    EXPECT_EQ(count_stderr(tracker_.process(), " closed: "), 1u)
        << "alice's client kept reconnecting";
    EXPECT_EQ(read_text(known_trackers(alice)), tracker_.address() + " " + old_key + "\n");
    EXPECT_EQ(count_stderr(alice.process(), "presented a different key"), 1u);
}

TEST_F(TlsTest, CommandWaitingForTheTrackerFailsWithTheKeyErrorInsteadOfHanging) {
    Client& alice = logged_in("alice");
    const std::string old_key = tracker_.fingerprint();
    tracker_.kill();
    PendingCommand during_outage = alice.send("list_groups");
    const std::string base = tracker_.files_base();
    ASSERT_TRUE(fs::remove(base + ".tls-key.pem"));
    ASSERT_TRUE(fs::remove(base + ".tls-cert.pem"));
    tracker_.restart();

    // The waiting command answers with the error, once, well before its 20 s timeout.
    const std::string expected =
        changed_key_error(tracker_.fingerprint(), known_trackers(alice), old_key);
    EXPECT_THAT(alice.collect(during_outage, Duration{8000}), ElementsAre(expected));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(expected));
}

TEST_F(TlsTest, PinInTrackerInfoThatDoesNotMatchIsRefusedOnFirstConnect) {
    write_text(tracker_.client_info_path(), tracker_.address() + " " + kZeroPin + "\n");
    Client& c = new_client();
    const std::string expected = info_pin_error(kZeroPin);
    EXPECT_EQ(c.process().wait_for_line("^error: tracker "), expected);
    EXPECT_THAT(c.run("create_user alice pw"), ElementsAre(expected));
    EXPECT_FALSE(fs::exists(known_trackers(c)));
    // Nothing was asked of the tracker: the account does not exist.
    write_text(tracker_.client_info_path(), tracker_.address() + "\n");
    Client& other = new_client();
    other.must("create_user alice pw", "user alice created");
}

TEST_F(TlsTest, PinInTrackerInfoThatMatchesConnectsWithoutWritingKnownTrackers) {
    // Upper case with colons, as `openssl x509 -fingerprint -sha256` prints it.
    std::string hex = tracker_.fingerprint().substr(7);
    std::string openssl_form = "SHA256:";
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        if (i > 0) openssl_form += ':';
        openssl_form += static_cast<char>(std::toupper(hex[i]));
        openssl_form += static_cast<char>(std::toupper(hex[i + 1]));
    }
    write_text(tracker_.client_info_path(), tracker_.address() + " " + openssl_form + "\n");
    Client& c = new_client();
    c.must("create_user alice pw", "user alice created");
    c.must("login alice pw", "logged in as alice");
    EXPECT_FALSE(fs::exists(known_trackers(c)));
}

TEST_F(TlsTest, RefusedTrackerLineIsSkippedForTheNextOneInTrackerInfo) {
    // The same tracker twice: first with a wrong pin, then unpinned; tried in that order.
    ScopedEnv file_order("GS_TRACKER_SEED", "file");
    write_text(tracker_.client_info_path(),
               tracker_.address() + " " + kZeroPin + "\n" + tracker_.address() + "\n");
    Client& c = new_client();
    EXPECT_EQ(c.process().wait_for_line("^error: tracker "), info_pin_error(kZeroPin));
    c.must("create_user alice pw", "user alice created");
    c.must("login alice pw", "logged in as alice");
}

TEST_F(TlsTest, MalformedPinInTrackerInfoStopsTheClientNamingTheLine) {
    write_text(tracker_.client_info_path(), tracker_.address() + " sha256:12345\n");
    Process p(
        "client", binary_from_env("GS_CLIENT"),
        {"127.0.0.1:0", tracker_.client_info_path().string(), "--data-dir", (dir_ / "c").string()});
    ExitStatus status = p.wait_exit();
    EXPECT_TRUE(status.exited && status.code != 0) << status.to_string();
    const std::string path = std::regex_replace(tracker_.client_info_path().string(),
                                                std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
    p.wait_for_stderr_line("^error: " + path + " line 1: 'sha256:12345' is not a key fingerprint");
}

// When: at kTlsHandshakeTimeout, pinned on a manual clock for the tracker's Server by
// tests/unit/server_test.cpp. Here, on the real tracker, only the event: the silent
// connection is closed for that reason, and a logged-in client is not affected.
TEST_F(TlsTest, ConnectionThatNeverStartsItsHandshakeIsClosedForThatReason) {
    Client& alice = logged_in("alice");
    RawConnection silent("127.0.0.1", tracker_.port(), RawConnection::Transport::Plain);
    EXPECT_TRUE(silent.wait_closed(Duration{20000}));
    tracker_.process().wait_for_stderr_line("closed: tls handshake timed out");
    // Logged-in clients were not affected: theirs finished long ago.
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
}

}  // namespace
}  // namespace gs::e2e
