// Many clients at once, and connections that send junk or oversized frames (inside TLS, as a
// client does) or junk instead of TLS: the tracker serves everyone and only the misbehaving
// connection is closed (docs/protocol.md §1.1 and §1.4).
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

constexpr int kManyClients = 200;

using LoadTest = E2eTest;
using AbuseTest = E2eTest;

TEST_F(LoadTest, TwoHundredClientsConnectedAtOnceAreAllServed) {
    // Start them all, then wait for each: they come up in parallel.
    std::vector<std::unique_ptr<Client>> crowd;
    crowd.reserve(kManyClients);
    for (int i = 0; i < kManyClients; ++i) {
        crowd.push_back(std::make_unique<Client>(dir_, tracker_, "crowd" + std::to_string(i)));
    }
    // Every client holds its own connection: the listener plus 200 sockets.
    pid_t tracker_pid = tracker_.process().pid();
    int sockets = 0;
    EXPECT_TRUE(eventually([&] {
        sockets = count_open_sockets(tracker_pid);
        return sockets >= kManyClients + 1;
    })) << "the tracker holds "
        << sockets << " sockets";

    // A few of them make accounts and a group.
    for (int i = 0; i < 4; ++i) {
        std::string user = "u" + std::to_string(i);
        crowd[i]->must("create_user " + user + " pw", "user " + user + " created");
        crowd[i]->must("login " + user + " pw", "logged in as " + user);
    }
    crowd[0]->must("create_group crowd", "group crowd created; you are its owner");
    for (int i = 1; i < 4; ++i) {
        crowd[i]->must("join_group crowd", "join request sent to the owner of group crowd");
        crowd[0]->must("accept_request crowd u" + std::to_string(i),
                       "u" + std::to_string(i) + " is now a member of group crowd");
    }

    // Then all 200 ask the tracker something at the same moment; each answer can only come
    // from the tracker (the client cannot know u0 exists). Those logged in list the groups.
    std::vector<PendingCommand> pending;
    for (int i = 0; i < kManyClients; ++i) {
        pending.push_back(crowd[i]->send(i < 4 ? "list_groups" : "create_user u0 other"));
    }
    for (int i = 0; i < kManyClients; ++i) {
        auto lines = crowd[i]->collect(pending[i]);
        if (i < 4) {
            EXPECT_THAT(lines, ElementsAre(member_of("crowd", "u0", 4))) << crowd[i]->name();
        } else {
            EXPECT_THAT(lines, ElementsAre("error: user 'u0' already exists")) << crowd[i]->name();
        }
    }
    // A hashed request from a newcomer is answered too, and nobody was dropped on the way.
    EXPECT_THAT(crowd[kManyClients - 1]->run("login u1 pw"), ElementsAre("logged in as u1"));
    EXPECT_GE(count_open_sockets(tracker_pid), kManyClients + 1);
    EXPECT_FALSE(tracker_.process().poll_exit().has_value());
}

// What a raw socket hears back: one error reply with `code`, then the tracker closes it.
void expect_error_then_close(RawConnection& raw, const std::string& code, std::int64_t seq) {
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value()) << "closed without an error reply";
    EXPECT_THAT(*reply, HasSubstr("2:oki0e")) << *reply;
    EXPECT_THAT(*reply, HasSubstr("4:code" + std::to_string(code.size()) + ":" + code)) << *reply;
    EXPECT_THAT(*reply, HasSubstr("3:seqi" + std::to_string(seq) + "e")) << *reply;
    EXPECT_THAT(*reply, HasSubstr("5:error")) << *reply;
    EXPECT_TRUE(raw.wait_closed()) << "the tracker kept the connection open";
}

std::string length_prefix(std::uint32_t length) {
    std::uint32_t be = htonl(length);
    return std::string(reinterpret_cast<const char*>(&be), sizeof be);
}

TEST_F(AbuseTest, JunkFrameGetsAnErrorReplyAndOnlyThatConnectionCloses) {
    Client& alice = logged_in("alice");
    create_group(alice, "books");

    // A half-sent header sits there the whole time; it must not hold anyone up.
    RawConnection dawdler("127.0.0.1", tracker_.port());
    dawdler.send_bytes(std::string("\0\0", 2));

    RawConnection junk("127.0.0.1", tracker_.port());
    junk.send_frame("this is not bencode at all");
    expect_error_then_close(junk, "bad_input", 0);

    RawConnection not_a_dict("127.0.0.1", tracker_.port());
    not_a_dict.send_frame("li1ei2ee");
    expect_error_then_close(not_a_dict, "bad_input", 0);

    RawConnection too_deep("127.0.0.1", tracker_.port());
    too_deep.send_frame(std::string(10000, 'l') + std::string(10000, 'e'));
    expect_error_then_close(too_deep, "bad_input", 0);

    RawConnection no_op("127.0.0.1", tracker_.port());
    no_op.send_frame("d3:seqi7ee");
    expect_error_then_close(no_op, "bad_input", 7);

    EXPECT_THAT(alice.run("list_groups"), ElementsAre(member_of("books", "alice", 1)));
    EXPECT_THAT(alice.run("create_group films"),
                ElementsAre("group films created; you are its owner"));
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("join request sent to the owner of group books"));
}

TEST_F(AbuseTest, BytesThatAreNotTlsCloseOnlyThatConnection) {
    Client& alice = logged_in("alice");
    create_group(alice, "books");

    // Half a TLS record header sits there; it must not hold anyone up.
    RawConnection dawdler("127.0.0.1", tracker_.port(), RawConnection::Transport::Plain);
    dawdler.send_bytes(std::string("\x16\x03", 2));

    // A client of the plain frame protocol, a web browser, and a broken TLS record where the
    // ClientHello belongs: each is just closed, with at most a TLS alert said first.
    const std::string plain_request =
        Bencode::dict({{"op", Bencode::str("list_groups")}, {"seq", Bencode::integer(1)}});
    for (const std::string& junk :
         {length_prefix(static_cast<std::uint32_t>(plain_request.size())) + plain_request,
          std::string("GET / HTTP/1.1\r\nHost: tracker\r\n\r\n"),
          std::string("\x16\x03\x01\x00\x05hello", 10)}) {
        RawConnection raw("127.0.0.1", tracker_.port(), RawConnection::Transport::Plain);
        raw.send_bytes(junk);
        std::string answer = raw.read_until_closed();
        EXPECT_TRUE(answer.empty() || answer[0] == 0x15) << "not an alert: " << answer;
        EXPECT_EQ(answer.find("books"), std::string::npos) << answer;
    }
    EXPECT_TRUE(eventually([&] {
        std::size_t refused = 0;
        for (const auto& line : tracker_.process().stderr_lines()) {
            if (line.find("closed: tls handshake: error:") != std::string::npos) ++refused;
        }
        return refused == 3;
    })) << "the tracker should log each refused handshake once";

    EXPECT_THAT(alice.run("list_groups"), ElementsAre(member_of("books", "alice", 1)));
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("join request sent to the owner of group books"));
}

TEST_F(AbuseTest, OversizedFrameIsRefusedBeforeItsBodyArrives) {
    Client& alice = logged_in("alice");
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("group books created; you are its owner"));

    // Announce 100 MiB and send none of it: the refusal can only come from the header.
    RawConnection big("127.0.0.1", tracker_.port());
    big.send_bytes(length_prefix(100u * 1024 * 1024));
    // While that connection is being refused, alice is served.
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(member_of("books", "alice", 1)));
    expect_error_then_close(big, "limit", 0);

    // One byte over the 4 MiB cap is refused too; exactly at the cap is read normally.
    RawConnection just_over("127.0.0.1", tracker_.port());
    just_over.send_bytes(length_prefix(4u * 1024 * 1024 + 1));
    expect_error_then_close(just_over, "limit", 0);

    // Text where a header belongs ("GET " is a length of about 1.2 GB).
    RawConnection http("127.0.0.1", tracker_.port());
    http.send_bytes("GET / HTTP/1.1\r\nHost: tracker\r\n\r\n");
    expect_error_then_close(http, "limit", 0);

    EXPECT_THAT(alice.run("create_group films"),
                ElementsAre("group films created; you are its owner"));
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books"), not_in("films")));
}

TEST_F(AbuseTest, FrameAtTheCapIsReadAndAnsweredNormally) {
    Client& alice = logged_in("alice");
    // A well-formed request padded to exactly 4 MiB with an extra string argument.
    const std::size_t cap = 4u * 1024 * 1024;
    auto request = [](std::size_t padding_bytes) {
        return Bencode::dict({{"op", Bencode::str("list_groups")},
                              {"seq", Bencode::integer(1)},
                              {"zpadding", Bencode::str(std::string(padding_bytes, 'x'))}});
    };
    std::string body = request(cap - request(1000000).size() + 1000000);
    ASSERT_EQ(body.size(), cap);
    // The protocol's cap holds after login (before it, a smaller one: preauth_test).
    RawConnection raw("127.0.0.1", tracker_.port());
    raw_login(raw, "alice", "secret");
    raw.send_frame(body);
    auto reply = raw.read_frame();
    ASSERT_TRUE(reply.has_value());
    // It is read as a request (not refused for size) and answered.
    EXPECT_THAT(*reply, HasSubstr("2:oki1e")) << reply->substr(0, 200);
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
}

}  // namespace
}  // namespace gs::e2e
