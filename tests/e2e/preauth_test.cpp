// Defences before login (issue 10, finding 2; SECURITY.md, Limits): a small frame cap until a
// connection has logged in, the password cap at login, a bound on logins and sign-ups waiting on
// one connection, a hashing queue that serves addresses in turn, and a per-address rate for
// login and create_user. Attackers are raw TLS connections from other loopback addresses
// (127.0.0.2 and up); the genuine user is a real client on 127.0.0.1.
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// tracker/server.hpp ServerLimits::preauth_max_frame_bytes and the protocol's cap.
constexpr std::size_t kPreauthCap = 64 * 1024;
constexpr std::size_t kFrameCap = 4 * 1024 * 1024;
// tracker/handlers/handlers.hpp kMaxPasswordBytes.
constexpr std::size_t kMaxPassword = 1024;
// tracker/dispatcher.hpp AccountLimits.
constexpr int kHashingPerConnection = 4;
constexpr int kHashJobsPerAddress = 16;
constexpr int kHashJobs = 64;
constexpr int kAttemptsBurst = 256;

std::string length_prefix(std::uint32_t length) {
    std::uint32_t be = htonl(length);
    return std::string(reinterpret_cast<const char*>(&be), sizeof be);
}

// A list_groups request padded to exactly `size` bytes.
std::string padded_request(std::size_t size) {
    auto request = [](std::size_t padding_bytes) {
        return Bencode::dict({{"op", Bencode::str("list_groups")},
                              {"seq", Bencode::integer(1)},
                              {"zpadding", Bencode::str(std::string(padding_bytes, 'x'))}});
    };
    return request(size - request(size / 2).size() + size / 2);
}

std::string login_request(std::int64_t seq, const std::string& user, const std::string& password) {
    return Bencode::dict({{"op", Bencode::str("login")},
                          {"seq", Bencode::integer(seq)},
                          {"user", Bencode::str(user)},
                          {"password", Bencode::str(password)},
                          {"listen", Bencode::str("127.0.0.1:1")}});
}

std::string create_user_request(std::int64_t seq, const std::string& user) {
    return Bencode::dict({{"op", Bencode::str("create_user")},
                          {"seq", Bencode::integer(seq)},
                          {"user", Bencode::str(user)},
                          {"password", Bencode::str("pw")}});
}

std::string frame(std::string_view body) {
    return length_prefix(static_cast<std::uint32_t>(body.size())) + std::string(body);
}

std::string code_of(const std::string& reply) {
    return bencode_string_field(reply, "code");
}

std::int64_t seq_of(const std::string& reply) {
    auto at = reply.find("3:seqi");
    return at == std::string::npos ? -1 : std::stoll(reply.substr(at + 6));
}

// The tracker's resident memory in KiB (/proc/PID/status VmRSS).
long rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

// Whether `pid` runs with AddressSanitizer (scripts/sanitize.sh): its quarantine keeps freed
// memory resident, so RSS says nothing about what a connection holds.
bool runs_under_asan(pid_t pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
        if (line.find("libasan") != std::string::npos) return true;
    }
    return false;
}

using PreauthTest = E2eTest;

TEST_F(PreauthTest, FrameOverThePreLoginCapIsRefusedUntilLoginAndAllowedAfter) {
    logged_in("alice");
    // At the cap, before login: read as a request (and refused for want of a login).
    {
        RawConnection raw("127.0.0.1", tracker_.port());
        raw.send_frame(padded_request(kPreauthCap));
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value());
        EXPECT_EQ(code_of(*reply), "not_logged_in") << *reply;
    }
    // One byte past it, and the protocol's 4 MiB: refused from the header alone, then closed.
    for (std::size_t declared : {kPreauthCap + 1, kFrameCap}) {
        RawConnection raw("127.0.0.1", tracker_.port());
        raw.send_bytes(length_prefix(static_cast<std::uint32_t>(declared)));
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value()) << "no answer to a " << declared << "-byte header";
        EXPECT_EQ(code_of(*reply), "limit") << *reply;
        EXPECT_THAT(bencode_string_field(*reply, "error"),
                    HasSubstr("over the limit of 65536 bytes for a connection that has not "
                              "logged in"));
        EXPECT_TRUE(raw.wait_closed());
    }
    // Logged in: the protocol's cap again, up to the logout.
    RawConnection raw("127.0.0.1", tracker_.port());
    raw_login(raw, "alice", "secret");
    raw.send_frame(padded_request(kFrameCap));
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_THAT(*reply, HasSubstr("2:oki1e")) << reply->substr(0, 200);
    raw.send_frame(Bencode::dict({{"op", Bencode::str("logout")}, {"seq", Bencode::integer(2)}}));
    reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_THAT(*reply, HasSubstr("2:oki1e")) << *reply;
    raw.send_bytes(length_prefix(static_cast<std::uint32_t>(kPreauthCap + 1)));
    reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(code_of(*reply), "limit") << *reply;
    EXPECT_TRUE(raw.wait_closed());
}

TEST_F(PreauthTest, HalfSentFramesAtThePreLoginCapPinLittleMemory) {
    // 128 connections from one address, each with a frame at the cap sent but for its last
    // byte (before: a 4 MiB frame each took the tracker from 31 MB to 1,089 MB).
    constexpr int kConnections = 128;
    Client& alice = logged_in("alice");
    const pid_t pid = tracker_.process().pid();
    const long before = rss_kib(pid);
    const std::string body = padded_request(kPreauthCap);
    const std::string all_but_one = frame(body).substr(0, body.size() + 4 - 1);
    std::vector<std::unique_ptr<RawConnection>> raws;
    for (int i = 0; i < kConnections; ++i) {
        raws.push_back(std::make_unique<RawConnection>("127.0.0.1", tracker_.port(),
                                                       RawConnection::Transport::Tls, "127.0.0.2"));
        raws.back()->send_bytes(all_but_one);
    }
    // The tracker has read them all once a real client's request is answered after them.
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
    const long after = rss_kib(pid);
    RecordProperty("rss_before_kib", static_cast<int>(before));
    RecordProperty("rss_after_kib", static_cast<int>(after));
    // About 150 KiB each (one frame's buffer and TLS) is 19 MiB; 4 MiB each would be 512 MiB.
    if (!runs_under_asan(pid)) {
        EXPECT_LT(after - before, 64 * 1024)
            << "RSS went from " << before << " to " << after << " KiB";
    }
    // Each still gets its answer once its last byte comes.
    raws.front()->send_bytes(std::string_view(body).substr(body.size() - 1));
    auto reply = raws.front()->read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(code_of(*reply), "not_logged_in") << *reply;
}

TEST_F(PreauthTest, LoginPasswordOverTheCapIsRefusedBeforeAnyHashing) {
    Client& alice = logged_in("alice");
    Client& other = new_client();
    // At the cap: checked (and wrong).
    EXPECT_THAT(other.run("login alice " + std::string(kMaxPassword, 'p')),
                ElementsAre("error: wrong user id or password"));
    // Past it: refused as create_user refuses it.
    EXPECT_THAT(other.run("login alice " + std::string(kMaxPassword + 1, 'p')),
                ElementsAre("error: the password is longer than 1024 bytes"));
    RawConnection raw("127.0.0.1", tracker_.port());
    raw.send_frame(login_request(9, "alice", std::string(kPreauthCap - 200, 'p')));
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(code_of(*reply), "bad_input") << reply->substr(0, 200);
    // Refused ones count for nothing: the right password still works at once.
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
    EXPECT_THAT(other.run("login alice secret"), ElementsAre("logged in as alice"));
}

TEST_F(PreauthTest, OneConnectionHasAtMostFourLoginsBeingChecked) {
    logged_in("alice");
    RawConnection raw("127.0.0.1", tracker_.port(), RawConnection::Transport::Tls, "127.0.0.3");
    std::string batch;
    for (int i = 1; i <= kHashingPerConnection + 1; ++i) {
        batch += frame(login_request(i, "ghost" + std::to_string(i), "pw"));
    }
    raw.send_bytes(batch);
    std::map<std::int64_t, std::string> codes;
    for (int i = 0; i <= kHashingPerConnection; ++i) {
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value());
        codes[seq_of(*reply)] = code_of(*reply);
        if (seq_of(*reply) == kHashingPerConnection + 1) {
            EXPECT_THAT(bencode_string_field(*reply, "error"),
                        HasSubstr("wait for their answers before sending more"));
        }
    }
    for (int i = 1; i <= kHashingPerConnection; ++i) {
        EXPECT_EQ(codes[i], "auth_failed") << "login " << i << " (at the bound)";
    }
    EXPECT_EQ(codes[kHashingPerConnection + 1], "throttled") << "one past the bound";
    // Once answered, the connection may send more.
    raw.send_frame(login_request(20, "alice", "secret"));
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_THAT(*reply, HasSubstr("2:oki1e")) << *reply;
}

// The order that shows it: the tracker answers the genuine login while logins of the flood are
// still waiting for their check, not after the whole flood (its log has a line per answer, in
// the order it answered them).
TEST_F(PreauthTest, LoginFloodFromOneAddressDoesNotSlowAnotherAddresssLogin) {
    // Before: 200 pipelined logins for unknown ids made a genuine login take 9.7 s, answered
    // after every checked login of the flood.
    constexpr int kConnections = 4;
    constexpr int kLoginsEach = 50;
    logged_in("alice").must("logout", "logged out alice");
    Client& genuine = new_client();
    std::vector<std::unique_ptr<RawConnection>> flood;
    for (int c = 0; c < kConnections; ++c) {
        flood.push_back(std::make_unique<RawConnection>(
            "127.0.0.1", tracker_.port(), RawConnection::Transport::Tls, "127.0.0.2"));
        std::string batch;
        for (int i = 0; i < kLoginsEach; ++i) {
            batch +=
                frame(login_request(i + 1, "ghost" + std::to_string(c * kLoginsEach + i), "guess"));
        }
        flood.back()->send_bytes(batch);
    }
    // Every flood connection has been read (its first answer is back): now the genuine login.
    int throttled = 0;
    int failed = 0;
    auto count = [&](const std::optional<std::string>& reply) {
        ASSERT_TRUE(reply.has_value());
        throttled += code_of(*reply) == "throttled";
        failed += code_of(*reply) == "auth_failed";
    };
    for (auto& raw : flood) ASSERT_NO_FATAL_FAILURE(count(raw->read_frame()));
    EXPECT_THAT(genuine.run("login alice secret"), ElementsAre("logged in as alice"));
    // The flood was answered: the excess at once with `throttled`, the rest after checking.
    for (auto& raw : flood) {
        for (int i = 1; i < kLoginsEach; ++i) ASSERT_NO_FATAL_FAILURE(count(raw->read_frame()));
    }
    EXPECT_GT(throttled, 0);
    EXPECT_GT(failed, 0);
    // In the tracker's log, once it holds every answer: the flood's checked logins answered
    // after the genuine one (the last successful login; the flood's never succeed).
    const std::string kChecked = "op=login -> auth_failed";
    const std::string kGenuine = "op=login -> ok";
    int failed_after_genuine = 0;
    ASSERT_TRUE(eventually([&] {
        int logged_failed = 0;
        failed_after_genuine = 0;
        for (const auto& line : tracker_.process().stderr_lines()) {
            if (line.find(kGenuine) != std::string::npos) failed_after_genuine = 0;
            if (line.find(kChecked) != std::string::npos) {
                ++logged_failed;
                ++failed_after_genuine;
            }
        }
        return logged_failed == failed;
    })) << "the tracker did not log the "
        << failed << " failed logins";
    RecordProperty("flood_logins_answered_after_the_genuine_one", failed_after_genuine);
    EXPECT_GT(failed_after_genuine, 0)
        << "the genuine login was answered only after every checked login of the flood";
}

// Opens `count` connections from `source` and sends each kHashingPerConnection pipelined logins
// for unknown ids (each is hashed, against a dummy hash).
std::vector<std::unique_ptr<RawConnection>> hashing_connections(std::uint16_t port,
                                                                const std::string& source,
                                                                int count) {
    std::vector<std::unique_ptr<RawConnection>> conns;
    for (int c = 0; c < count; ++c) {
        conns.push_back(std::make_unique<RawConnection>("127.0.0.1", port,
                                                        RawConnection::Transport::Tls, source));
    }
    return conns;
}

void send_logins(RawConnection& raw) {
    // Ids never used twice, so the per-user throttle never answers instead of the queue.
    static int next_ghost = 0;
    std::string batch;
    for (int i = 1; i <= kHashingPerConnection; ++i) {
        batch += frame(login_request(i, "phantom" + std::to_string(++next_ghost), "pw"));
    }
    // Answered at once (not logged in): once it is back, the tracker has taken up the logins.
    batch +=
        frame(Bencode::dict({{"op", Bencode::str("list_groups")}, {"seq", Bencode::integer(99)}}));
    raw.send_bytes(batch);
}

void wait_taken_up(RawConnection& raw) {
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    ASSERT_EQ(seq_of(*reply), 99) << *reply;
}

// How many of a connection's kHashingPerConnection answers have each code.
std::map<std::string, int> answer_codes(RawConnection& raw) {
    std::map<std::string, int> codes;
    for (int i = 0; i < kHashingPerConnection; ++i) {
        auto reply = raw.read_frame(Duration(60000));
        if (reply && seq_of(*reply) == 99) reply = raw.read_frame(Duration(60000));  // the marker
        if (!reply) break;
        ++codes[code_of(*reply)];
        if (code_of(*reply) == "throttled") {
            EXPECT_THAT(bencode_string_field(*reply, "error"),
                        HasSubstr("the tracker is busy checking passwords; try again in a few "
                                  "seconds"));
        }
    }
    return codes;
}

// Before, four addresses holding their 16 jobs each filled the 64 and every other address's
// login was refused `throttled` for as long as they kept it up (measured with 5 addresses
// refilling: one genuine login in five refused, each near 3 s). Now a full queue makes room for
// an address that holds far fewer jobs: the newest waiting job of the address holding the most
// is refused instead.
TEST_F(PreauthTest, HashQueueHoldsSixteenJobsPerAddressAndAFullQueueMakesRoomForAnotherAddress) {
    // Four addresses fill the whole queue (16 each, its share); all connections are open before
    // any login is sent, so the queue fills faster than two workers empty it.
    const std::vector<std::string> fillers = {"127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"};
    constexpr int kPerAddress = kHashJobsPerAddress / kHashingPerConnection;
    std::vector<std::vector<std::unique_ptr<RawConnection>>> by_address;
    for (const auto& source : fillers) {
        by_address.push_back(hashing_connections(tracker_.port(), source, kPerAddress + 1));
    }
    auto late = hashing_connections(tracker_.port(), "127.0.0.9", 1);
    static_assert(kPerAddress * kHashingPerConnection * 4 == kHashJobs);
    // At the bounds: each address's first 16 and the first 64 in all are taken.
    for (auto& conns : by_address) {
        for (int c = 0; c < kPerAddress; ++c) send_logins(*conns[c]);
    }
    for (auto& conns : by_address) {
        for (int c = 0; c < kPerAddress; ++c) wait_taken_up(*conns[c]);
    }
    // Past them: a 17th job from a full address is refused (a few of the first jobs may have
    // finished by now, so at least one of its batch); a new address's jobs are all taken, the
    // full queue's room coming from the fillers' newest jobs.
    send_logins(*by_address[0][kPerAddress]);
    send_logins(*late[0]);
    auto past_share = answer_codes(*by_address[0][kPerAddress]);
    auto past_total = answer_codes(*late[0]);
    EXPECT_GE(past_share["throttled"], 1) << "a 17th job from one address";
    EXPECT_EQ(past_total["auth_failed"], kHashingPerConnection)
        << "a new address's jobs when the queue is full: throttled " << past_total["throttled"];
    int made_room = 0;
    for (auto& conns : by_address) {
        for (int c = 0; c < kPerAddress; ++c) {
            auto codes = answer_codes(*conns[c]);
            EXPECT_EQ(codes["auth_failed"] + codes["throttled"], kHashingPerConnection);
            made_room += codes["throttled"];
        }
    }
    // Room is made for the new address's jobs, and for the 17th batch's once its address holds
    // two fewer than another: never for more.
    EXPECT_LE(made_room, 2 * kHashingPerConnection) << "more jobs refused than room was made for";
}

TEST_F(PreauthTest, LoginsAndSignUpsFromOneAddressAreRateLimited) {
    Client& alice = logged_in("alice");
    // create_user tells whether an id exists: an address gets kAttemptsBurst of them at once
    // (answered without hashing here: alice exists), then two a second.
    RawConnection raw("127.0.0.1", tracker_.port(), RawConnection::Transport::Tls, "127.0.0.4");
    constexpr int kPast = 4;
    std::string batch;
    for (int i = 1; i <= kAttemptsBurst + kPast; ++i) {
        batch += frame(create_user_request(i, "alice"));
    }
    raw.send_bytes(batch);
    std::map<std::int64_t, std::string> replies;
    for (int i = 1; i <= kAttemptsBurst + kPast; ++i) {
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value());
        replies[seq_of(*reply)] = *reply;
    }
    for (int i = 1; i <= kAttemptsBurst; ++i) {
        ASSERT_EQ(code_of(replies[i]), "already_exists") << "request " << i << ": " << replies[i];
    }
    const std::string& last = replies[kAttemptsBurst + kPast];
    EXPECT_EQ(code_of(last), "throttled") << last;
    EXPECT_THAT(bencode_string_field(last, "error"),
                HasSubstr("too many logins and sign-ups from your address; try again in"));
    // Logins from that address are refused too; another address is not affected.
    raw.send_frame(login_request(1000, "alice", "secret"));
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(code_of(*reply), "throttled") << *reply;
    EXPECT_THAT(new_client().run("create_user bob pw"), ElementsAre("user bob created"));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
}

}  // namespace
}  // namespace gs::e2e
