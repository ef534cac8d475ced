// Real session revocation and owner-only tracker files (issue 10, findings 4 and 7; SECURITY.md):
// logout closes the session's other connections, logout --everywhere ends every session of the
// user, a request that issues tickets first checks its session is still in the database (a
// second tracker on the same database may have ended it), and the tracker's database, WAL and
// keys are readable by their owner only.
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string request(std::string_view op, std::int64_t seq,
                    std::vector<std::pair<std::string, std::string>> args = {}) {
    args.emplace_back("op", Bencode::str(op));
    args.emplace_back("seq", Bencode::integer(seq));
    return Bencode::dict(std::move(args));
}

std::string resume_request(std::int64_t seq, const std::string& token) {
    return request("resume", seq,
                   {{"token", Bencode::str(token)}, {"listen", Bencode::str("127.0.0.1:2")}});
}

std::string get_file_request(std::int64_t seq) {
    return request("get_file", seq,
                   {{"group", Bencode::str("nosuch")}, {"name", Bencode::str("x")}});
}

// Sends `body` and returns the answer's code ("" for ok); fails if the connection closes.
std::string ask_code(RawConnection& raw, const std::string& body) {
    raw.send_frame(body);
    auto reply = raw.read_frame();
    EXPECT_TRUE(reply.has_value()) << "closed instead of answering";
    if (!reply) return "(closed)";
    return bencode_string_field(*reply, "code");
}

using SessionsTest = E2eTest;

TEST_F(SessionsTest, LogoutClosesTheOtherConnectionsOfThatSession) {
    logged_in("alice").must("create_group books", "group books created; you are its owner");
    RawConnection first("127.0.0.1", tracker_.port());
    const std::string token = raw_login(first, "alice", "secret");
    ASSERT_EQ(token.size(), 64u);
    // A second connection resumes the same token; a third has a session of its own.
    RawConnection second("127.0.0.1", tracker_.port());
    EXPECT_EQ(ask_code(second, resume_request(1, token)), "");
    EXPECT_EQ(ask_code(second, request("list_groups", 2)), "");
    RawConnection third("127.0.0.1", tracker_.port());
    raw_login(third, "alice", "secret");

    EXPECT_EQ(ask_code(first, request("logout", 3)), "");
    // Before: the second connection kept listing groups and getting tickets.
    EXPECT_TRUE(second.wait_closed()) << "the resumed connection outlived the logout";
    tracker_.process().wait_for_stderr_line("session of alice ended by logout on conn");
    RawConnection again("127.0.0.1", tracker_.port());
    EXPECT_EQ(ask_code(again, resume_request(1, token)), "auth_failed");
    // The logged-out connection stays open, logged out; the other session is untouched.
    EXPECT_EQ(ask_code(first, request("list_groups", 4)), "not_logged_in");
    EXPECT_EQ(ask_code(third, request("list_groups", 5)), "");
}

TEST_F(SessionsTest, LogoutEverywhereEndsEverySessionOfTheUser) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    RawConnection leaked("127.0.0.1", tracker_.port());
    const std::string token = raw_login(leaked, "alice", "secret");

    EXPECT_THAT(alice.run("logout --now"), ElementsAre("error: usage: logout [--everywhere]"));
    EXPECT_THAT(alice.run("logout --everywhere"),
                ElementsAre("logged out alice everywhere (2 session(s) ended)"));
    EXPECT_TRUE(leaked.wait_closed()) << "a connection of alice outlived logout --everywhere";
    tracker_.process().wait_for_stderr_line("session of alice ended by logout --everywhere");
    RawConnection again("127.0.0.1", tracker_.port());
    EXPECT_EQ(ask_code(again, resume_request(1, token)), "auth_failed");
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre("error: you are not logged in; use login <user_id> <passwd> first"));
    // Other users keep theirs; alice may log in again.
    EXPECT_THAT(bob.run("list_groups"), ElementsAre("(no groups yet)"));
    EXPECT_THAT(alice.run("login alice secret"), ElementsAre("logged in as alice"));
    EXPECT_THAT(alice.run("logout"), ElementsAre("logged out alice"));
}

TEST_F(SessionsTest, NoTicketForASessionEndedOnAnotherTracker) {
    logged_in("alice");
    RawConnection holder("127.0.0.1", tracker_.port());
    const std::string token = raw_login(holder, "alice", "secret");
    // With a live session the request reaches the file rules (no such group: not_found).
    EXPECT_EQ(ask_code(holder, get_file_request(2)), "not_found");

    // A second tracker on the same database ends that session.
    write_file(dir_ / "second_info.txt", "127.0.0.1:0\n");
    Process second("tracker2", binary_from_env("GS_TRACKER"),
                   {(dir_ / "second_info.txt").string(), "1", "--db", tracker_.db()}, dir_.path());
    std::string line = second.wait_for_line(R"(^tracker 1 listening on 127\.0\.0\.1:\d+ )");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(127\.0\.0\.1:(\d+))")));
    RawConnection elsewhere("127.0.0.1", static_cast<std::uint16_t>(std::stoul(m[1].str())));
    EXPECT_EQ(ask_code(elsewhere, resume_request(1, token)), "");
    EXPECT_EQ(ask_code(elsewhere, request("logout", 2)), "");

    // Before: the first tracker kept issuing tickets on it.
    EXPECT_EQ(ask_code(holder, get_file_request(3)), "not_logged_in");
    tracker_.process().wait_for_stderr_line("session of alice has ended elsewhere");
    // Each op that issues a ticket or registers a seeder checks, whatever its arguments.
    for (const char* op : {"get_file", "get_peers", "add_seeder", "upload_file"}) {
        RawConnection again("127.0.0.1", tracker_.port());
        const std::string other_token = raw_login(again, "alice", "secret");
        EXPECT_EQ(ask_code(elsewhere, resume_request(10, other_token)), "") << op;
        EXPECT_EQ(ask_code(elsewhere, request("logout", 11)), "") << op;
        EXPECT_EQ(ask_code(again, request(op, 12, {{"group", Bencode::str("nosuch")}})),
                  "not_logged_in")
            << op;
    }
    // The connection is logged out for everything after that.
    EXPECT_EQ(ask_code(holder, request("list_groups", 4)), "not_logged_in");
    second.send_line("quit");
    EXPECT_TRUE(second.wait_exit().is_clean());
}

// Mode bits of `path` that let others than the owner in (0 when owner-only).
unsigned others_bits(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 01000;  // missing: never 0
    return st.st_mode & 077;
}

TEST_F(SessionsTest, TrackerFilesAreOwnerOnly) {
    logged_in("alice").must("create_group books", "group books created; you are its owner");
    // On PostgreSQL the database and the ticket key live in the server: the TLS files remain.
    const std::string base = tracker_.files_base();
    std::vector<std::string> suffixes{".tls-key.pem", ".tls-cert.pem"};
    if (!on_postgres()) suffixes.insert(suffixes.begin(), {"", "-wal", "-shm", ".ticket-key"});
    // Before: the database and its WAL were 0644.
    for (const std::string& suffix : suffixes) {
        EXPECT_EQ(others_bits(base + suffix), 0u) << base << suffix;
    }
    // A file left readable by an older tracker is made owner-only at start.
    const std::string first = base + suffixes.front();
    tracker_.quit();
    ASSERT_EQ(::chmod(first.c_str(), 0644), 0);
    tracker_.restart();
    EXPECT_EQ(others_bits(first), 0u);
    tracker_.process().wait_for_stderr_line("was readable by others; made it owner-only");
}

}  // namespace
}  // namespace gs::e2e
