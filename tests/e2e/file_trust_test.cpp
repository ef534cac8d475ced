// What the tracker believes about files and seeders (issue 10, finding 6): a seeder's address is
// the IP its connection comes from, one account registers at most 4 addresses per file, an info
// dictionary kept by a former member cannot be shared in a group of his own without the file,
// and a group's owner removes a squatter's file so the real one can be shared. The attacker is a
// raw TLS client speaking the tracker protocol (RawConnection), not our client.
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::Not;

using Args = RawSession::Args;

const Duration kTransfer{60000};

constexpr const char* kOk = "2:oki1e";

// A bencoded info dictionary for `name` that no file matches (pieces of 'x').
std::string fake_info(const std::string& name) {
    return Bencode::dict({{"length", Bencode::integer(5)},
                          {"name", Bencode::str(name)},
                          {"piece length", Bencode::integer(16384)},
                          {"pieces", Bencode::str(std::string(20, 'x'))},
                          {"private", Bencode::integer(1)}});
}

// Every "addr" value in a get_file / get_peers reply.
std::vector<std::string> peer_addrs(const std::string& reply) {
    std::vector<std::string> out;
    static const std::regex re("4:addr(\\d+):");
    for (auto it = std::sregex_iterator(reply.begin(), reply.end(), re);
         it != std::sregex_iterator(); ++it) {
        const std::size_t len = std::stoul((*it)[1]);
        out.push_back(reply.substr(static_cast<std::size_t>(it->position() + it->length()), len));
    }
    return out;
}

class FileTrustTest : public E2eTest {
protected:
    fs::path file_with(const std::string& who, const std::string& name, const std::string& bytes) {
        const fs::path path = dir_ / who / name;
        write_file(path, bytes);
        return path;
    }

    void download(Client& c, const std::string& group, const std::string& name,
                  const fs::path& dest, const std::string& expected) {
        auto started = c.run("download_file " + group + " " + name + " " + dest.string());
        ASSERT_THAT(started, ElementsAre(StartsWith("downloading " + name)));
        c.process().wait_for_line(
            "^" + regex_escape("[C] [" + group + "] " + name + "  -> " + dest.string()) + "$",
            kTransfer);
        EXPECT_TRUE(read_file(dest) == expected) << "downloaded bytes differ";
    }
};

// Before: the tracker recorded and handed out whatever address a login named.
TEST_F(FileTrustTest, ASeederRegistrationNamingAForeignIpRecordsTheSourceIp) {
    RawSession bob(tracker_.port());
    bob.login("bob", "127.0.0.1:7002", true);
    ASSERT_THAT(bob.request("create_group", {{"group", Bencode::str("g")}}), HasSubstr(kOk));
    RawSession mallory(tracker_.port());
    mallory.login("mallory", "10.9.8.7:5555", true);
    ASSERT_THAT(mallory.request("join_group", {{"group", Bencode::str("g")}}), HasSubstr(kOk));
    ASSERT_THAT(bob.request("accept_request",
                            {{"group", Bencode::str("g")}, {"user", Bencode::str("mallory")}}),
                HasSubstr(kOk));
    ASSERT_THAT(mallory.request("upload_file", {{"group", Bencode::str("g")},
                                                {"info", Bencode::str(fake_info("x.bin"))}}),
                HasSubstr(kOk));
    const std::string reply =
        bob.request("get_file", {{"group", Bencode::str("g")}, {"name", Bencode::str("x.bin")}});
    ASSERT_THAT(reply, HasSubstr(kOk));
    // Downloaders are sent to where mallory's connection came from, with the port he named.
    EXPECT_THAT(peer_addrs(reply), ElementsAre("127.0.0.1:5555"));
    EXPECT_THAT(reply, Not(HasSubstr("10.9.8.7")));
}

// Before: every login on another port added one more address downloaders were sent to.
TEST_F(FileTrustTest, OneAccountRegistersAtMostFourAddressesForAFile) {
    RawSession bob(tracker_.port());
    bob.login("bob", "127.0.0.1:7002", true);
    ASSERT_THAT(bob.request("create_group", {{"group", Bencode::str("g")}}), HasSubstr(kOk));
    std::vector<std::unique_ptr<RawSession>> mallory;
    const std::string info = fake_info("x.bin");
    for (int i = 1; i <= 6; ++i) {
        mallory.push_back(std::make_unique<RawSession>(tracker_.port()));
        mallory.back()->login("mallory", "127.0.0.1:" + std::to_string(5000 + i), i == 1);
        if (i == 1) {
            ASSERT_THAT(mallory[0]->request("join_group", {{"group", Bencode::str("g")}}),
                        HasSubstr(kOk));
            ASSERT_THAT(bob.request("accept_request", {{"group", Bencode::str("g")},
                                                       {"user", Bencode::str("mallory")}}),
                        HasSubstr(kOk));
        }
        ASSERT_THAT(mallory.back()->request("upload_file", {{"group", Bencode::str("g")},
                                                            {"info", Bencode::str(info)}}),
                    HasSubstr(kOk));
        const std::string reply = bob.request(
            "get_file", {{"group", Bencode::str("g")}, {"name", Bencode::str("x.bin")}});
        // Below and at 4 every new address is listed; past it, the newest 4.
        EXPECT_EQ(peer_addrs(reply).size(), static_cast<std::size_t>(std::min(i, 4))) << i;
    }
    const std::string reply =
        bob.request("get_file", {{"group", Bencode::str("g")}, {"name", Bencode::str("x.bin")}});
    EXPECT_THAT(peer_addrs(reply), ElementsAre("127.0.0.1:5003", "127.0.0.1:5004", "127.0.0.1:5005",
                                               "127.0.0.1:5006"));
}

// Before: a former member who kept the info dictionary shared it in a group of his own without
// having the file, and the tracker handed him tickets for it.
TEST_F(FileTrustTest, AFormerMemberCannotShareAKeptInfoDictionaryWithoutTheFile) {
    Client& alice = logged_in("alice");
    create_group(alice, "g");
    const std::string content = random_bytes(3 * 512 * 1024 + 1000, 61);
    const fs::path src = file_with("alice", "data.bin", content);
    ASSERT_THAT(alice.run("upload_file " + src.string() + " g", kTransfer),
                ElementsAre(StartsWith("shared data.bin in group g")));

    RawSession mallory(tracker_.port());
    mallory.login("mallory", "127.0.0.1:5555", true);
    ASSERT_THAT(mallory.request("join_group", {{"group", Bencode::str("g")}}), HasSubstr(kOk));
    accept_request(alice, "g", "mallory");
    const std::string got = mallory.request(
        "get_file", {{"group", Bencode::str("g")}, {"name", Bencode::str("data.bin")}});
    const std::string info = bencode_string_field(got, "info");
    ASSERT_FALSE(info.empty()) << got;
    ASSERT_THAT(mallory.request("leave_group", {{"group", Bencode::str("g")}}), HasSubstr(kOk));

    ASSERT_THAT(mallory.request("create_group", {{"group", Bencode::str("m")}}), HasSubstr(kOk));
    const Args upload{{"group", Bencode::str("m")}, {"info", Bencode::str(info)}};
    // The tracker asks for a piece instead of recording the file...
    const std::string challenge = mallory.request("upload_file", upload);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(challenge, m, std::regex("11:prove_piecei(\\d+)e"))) << challenge;
    EXPECT_THAT(challenge, Not(HasSubstr("3:newi1e")));
    // ...and a made-up one is refused.
    Args guess = upload;
    guess.emplace_back("proof", Bencode::str(std::string(512 * 1024, 'g')));
    EXPECT_THAT(mallory.request("upload_file", guess),
                HasSubstr("that is not piece " + std::string(m[1]) + " of 'data.bin'"));
    // No file in his group, so no ticket for it.
    const std::string no_file = mallory.request(
        "get_file", {{"group", Bencode::str("m")}, {"name", Bencode::str("data.bin")}});
    EXPECT_THAT(no_file, HasSubstr("group 'm' has no file named 'data.bin'"));
    EXPECT_THAT(no_file, Not(HasSubstr("6:ticket")));
}

// The other side of the same rule: a user who has the file shares it in a second group, his
// client answering the tracker's challenge by itself, and members there download it from him.
TEST_F(FileTrustTest, AnHonestUserWithTheFileSharesItInASecondGroup) {
    Client& alice = logged_in("alice");
    Client& carol = logged_in("carol");
    Client& dave = logged_in("dave");
    create_group(alice, "g");
    const std::string content = random_bytes(3 * 512 * 1024 + 1000, 62);
    ASSERT_THAT(alice.run("upload_file " + file_with("alice", "data.bin", content).string() + " g",
                          kTransfer),
                ElementsAre(StartsWith("shared data.bin in group g")));

    // carol has her own copy and is no member of g: she proves it with one piece.
    make_group(carol, "c", {&dave}, {"dave"});
    const fs::path carols = file_with("carol", "data.bin", content);
    ASSERT_THAT(carol.run("upload_file " + carols.string() + " c", kTransfer),
                ElementsAre(StartsWith("shared data.bin in group c")));
    carol.process().wait_for_stderr_line(
        "proving to the tracker that we have data\\.bin with "
        "piece \\d+");
    // alice seeds it in g: her second group needs no proof.
    create_group(alice, "h");
    ASSERT_THAT(
        alice.run("upload_file " + (dir_ / "alice" / "data.bin").string() + " h", kTransfer),
        ElementsAre(StartsWith("shared data.bin in group h")));

    EXPECT_THAT(dave.run("list_files c"), ElementsAre("data.bin  1.5 MiB  seeders=1  online=1"));
    download(dave, "c", "data.bin", dir_ / "dave.bin", content);
}

// Before: a squatter's fake secret.bin blocked the real one and the owner could not remove it.
TEST_F(FileTrustTest, TheOwnerRemovesASquattersFileAndTheRealOneCanBeShared) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    Client& carol = logged_in("carol");
    make_group(alice, "g", {&bob, &carol}, {"bob", "carol"});
    const fs::path fake = file_with("bob", "secret.bin", random_bytes(70000, 1));
    ASSERT_THAT(bob.run("upload_file " + fake.string() + " g"),
                ElementsAre(StartsWith("shared secret.bin in group g")));
    const std::string real = random_bytes(900000, 2);
    const fs::path reals = file_with("alice", "secret.bin", real);
    EXPECT_THAT(alice.run("upload_file " + reals.string() + " g"),
                ElementsAre("error: group 'g' already has a different file named 'secret.bin'"));

    // Only the owner may remove it, not the member who put it there.
    EXPECT_THAT(bob.run("remove_file g secret.bin"),
                ElementsAre("error: only the owner of group 'g' (alice) can remove a file; to "
                            "stop sharing your own copy use stop_share g secret.bin"));
    EXPECT_THAT(alice.run("remove_file g secret.bin"),
                ElementsAre("removed secret.bin from group g"));
    EXPECT_THAT(carol.run("list_files g"), ElementsAre("(no files shared in group g)"));
    EXPECT_THAT(carol.run("download_file g secret.bin " + (dir_ / "x.bin").string()),
                ElementsAre("error: group 'g' has no file named 'secret.bin'"));

    ASSERT_THAT(alice.run("upload_file " + reals.string() + " g"),
                ElementsAre(StartsWith("shared secret.bin in group g")));
    // The squatter's client, back after a new login, does not bring its file back.
    bob.must("logout", "logged out bob");
    const auto lines = bob.run("login bob secret");
    const bool said = std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
        return l.starts_with("stopped sharing secret.bin in group g: ");
    });
    if (!said) bob.process().wait_for_line("^stopped sharing secret\\.bin in group g: ");
    EXPECT_THAT(carol.run("list_files g"),
                ElementsAre("secret.bin  878.9 KiB  seeders=1  online=1"));
    download(carol, "g", "secret.bin", dir_ / "carol.bin", real);
}

// A client serving on another loopback address than the tracker's: its tracker connection
// starts from that address, so the address the tracker records is one downloaders can reach.
TEST_F(FileTrustTest, AClientListeningOnAnotherLoopbackAddressIsReachedThere) {
    Process far("far", binary_from_env("GS_CLIENT"),
                {"127.0.0.2:0", tracker_.client_info_path().string(), "--data-dir",
                 (dir_ / "far").string()},
                dir_.path());
    far.wait_for_line(R"(^serving pieces on 127\.0\.0\.2:\d+$)");
    far.send_line("create_user erin secret");
    far.wait_for_line("^user erin created");
    far.send_line("login erin secret");
    far.wait_for_line("^logged in as erin");
    far.send_line("create_group e");
    far.wait_for_line("^group e created");
    Client& frank = logged_in("frank");
    ask_to_join(frank, "e");
    far.send_line("accept_request e frank");
    far.wait_for_line("^frank is now a member of group e");
    const std::string content = random_bytes(600000, 3);
    far.send_line("upload_file " + file_with("erin", "far.bin", content).string() + " e");
    far.wait_for_line("^shared far\\.bin in group e", kTransfer);
    download(frank, "e", "far.bin", dir_ / "frank.bin", content);
}

}  // namespace
}  // namespace gs::e2e
