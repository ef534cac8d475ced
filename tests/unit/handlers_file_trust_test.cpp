// What the tracker believes about files and seeders (issue 10, finding 6): the seeder address
// comes from the connection, a user keeps a few addresses per file, a file shared in another
// group needs a proof of possession, the owner can remove a file, and files per account are
// capped. Limits are shortened through Context::file_limits.
#include "tests/unit/handlers_fixture.hpp"
#include "tests/unit/test_content.hpp"

#include "shared/ids.hpp"

namespace gs::tracker {
namespace {

using namespace test_support;
using ::testing::ElementsAre;

constexpr std::int64_t kPiece = 16384;

class FileTrustTest : public HandlersTest {
protected:
    Reply limited(HandlerFn fn, const Session* who, proto::Dict args = {}) {
        Context ctx{who, *store_, now_, nullptr};
        ctx.file_limits = limits_;
        return fn(ctx, proto::Value(std::move(args)));
    }

    // upload_file of `info` (bencoded) into `group`, with `proof` when given.
    Reply share(const Session& who, const std::string& info, const std::string& group,
                std::optional<std::string> proof = std::nullopt) {
        proto::Dict args{{"group", group}, {"info", info}};
        if (proof) args["proof"] = *proof;
        return limited(handle_upload_file, &who, std::move(args));
    }

    proto::List files_of(const Session& who, const std::string& group) {
        auto r = limited(handle_list_files, &who, {{"group", group}});
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? r->at("files").as_list() : proto::List{};
    }

    Reply make_group(const Session& owner, const std::string& group) {
        return limited(handle_create_group, &owner, {{"group", group}});
    }

    std::vector<std::string> addrs_of(const std::string& group, const std::string& name) {
        auto g = store_->find_group(group);
        auto f = store_->file_by_name((*g)->pk, name);
        auto seeders = store_->seeders_of((*f)->pk);
        std::vector<std::string> out;
        for (const Seeder& s : *seeders) {
            out.push_back(s.user_id + "@" + s.listen_addr);
        }
        return out;
    }

    // Content of `pieces` whole pieces and `tail` more bytes, and its real info dictionary.
    static std::pair<std::string, proto::InfoDict> real_file(int pieces, std::size_t tail = 0,
                                                             std::int64_t piece = kPiece) {
        std::string content = gs::test::random_bytes(
            static_cast<std::size_t>(pieces * piece) + tail, static_cast<std::uint32_t>(pieces));
        return {content, gs::test::info_for(content, piece)};
    }

    static std::string piece_of(const std::string& content, std::int64_t index,
                                std::int64_t piece = kPiece) {
        return content.substr(static_cast<std::size_t>(index * piece),
                              static_cast<std::size_t>(piece));
    }

    FileLimits limits_;
};

// ---- The seeder address is the connection's IP with the announced port ----

TEST_F(FileTrustTest, LoginAndResumeRecordTheSourceIpNotTheAnnouncedOne) {
    LoginThrottle throttle;
    auto pending =
        begin_login(*store_, throttle,
                    proto::Value(proto::Dict{
                        {"user", "alice"}, {"password", "pw"}, {"listen", "10.9.8.7:5555"}}),
                    nullptr, {});
    ASSERT_TRUE(pending.ok()) << pending.error().message;
    auto done = finish_login(*store_, throttle, *pending, true, "127.0.0.9:40001", {}, kNow);
    ASSERT_TRUE(done.ok()) << done.error().message;
    EXPECT_EQ(done->session.listen_addr, "127.0.0.9:5555");

    auto resumed = resume_session(*store_, done->token, "192.0.2.1:6000", "127.0.0.5:1234", kNow);
    ASSERT_TRUE(resumed.ok()) << resumed.error().message;
    EXPECT_EQ(resumed->listen_addr, "127.0.0.5:6000");
    // The announced address must still be well formed.
    EXPECT_ERROR(resume_session(*store_, done->token, "nowhere", "127.0.0.5:1234", kNow),
                 Errc::BadInput, "invalid listen address 'nowhere': use IP:PORT");
}

// ---- Seeder addresses per user per file ----

TEST_F(FileTrustTest, AUserKeepsAtMostFourAddressesPerFileAndAFifthReplacesTheOldest) {
    group_g({&bob_});
    ASSERT_EQ(limits_.addrs_per_file, 4);
    const std::string info = info_bytes({});
    const std::string hash = sha1_hex(info);
    ASSERT_TRUE(share(alice_, info, "g").ok());
    ASSERT_TRUE(share(bob_, info, "g").ok());
    auto from = [&](int port) {
        Session s = alice_;
        s.listen_addr = "127.0.0.1:" + std::to_string(port);
        return s;
    };
    // Below the cap: 3 addresses; at it: 4 — upload_file and add_seeder count alike.
    for (int port : {8002, 8003}) ASSERT_TRUE(share(from(port), info, "g").ok());
    EXPECT_EQ(addrs_of("g", "a.txt").size(), 4u);  // alice x3 + bob
    Session fourth = from(8004);
    ASSERT_TRUE(limited(handle_add_seeder, &fourth, {{"group", "g"}, {"info_hash", hash}}).ok());
    EXPECT_THAT(addrs_of("g", "a.txt"),
                ElementsAre("alice@127.0.0.1:7001", "bob@127.0.0.1:7002", "alice@127.0.0.1:8002",
                            "alice@127.0.0.1:8003", "alice@127.0.0.1:8004"));
    // An address already known changes nothing.
    ASSERT_TRUE(share(from(8002), info, "g").ok());
    EXPECT_EQ(addrs_of("g", "a.txt").size(), 5u);
    // Past it: the fifth replaces alice's oldest; bob's row is untouched.
    ASSERT_TRUE(share(from(8005), info, "g").ok());
    EXPECT_THAT(addrs_of("g", "a.txt"),
                ElementsAre("bob@127.0.0.1:7002", "alice@127.0.0.1:8002", "alice@127.0.0.1:8003",
                            "alice@127.0.0.1:8004", "alice@127.0.0.1:8005"));
    Session sixth = from(8006);
    ASSERT_TRUE(limited(handle_add_seeder, &sixth, {{"group", "g"}, {"info_hash", hash}}).ok());
    EXPECT_THAT(addrs_of("g", "a.txt"),
                ElementsAre("bob@127.0.0.1:7002", "alice@127.0.0.1:8003", "alice@127.0.0.1:8004",
                            "alice@127.0.0.1:8005", "alice@127.0.0.1:8006"));
}

TEST_F(FileTrustTest, TheAddressCapIsALimitTestsCanShorten) {
    group_g();
    limits_.addrs_per_file = 1;
    const std::string info = info_bytes({});
    ASSERT_TRUE(share(alice_, info, "g").ok());
    Session moved = alice_;
    moved.listen_addr = "127.0.0.1:9000";
    ASSERT_TRUE(share(moved, info, "g").ok());
    EXPECT_THAT(addrs_of("g", "a.txt"), ElementsAre("alice@127.0.0.1:9000"));
}

// ---- Proof of possession across groups ----

TEST_F(FileTrustTest, AFileSharedInAnotherGroupNeedsOneOfItsPiecesAsProof) {
    group_g({&bob_});
    auto [content, dict] = real_file(5, 100);  // 6 pieces, the last one short
    ASSERT_TRUE(share(alice_, dict.bencoded, "g").ok());
    ASSERT_TRUE(make_group(carol_, "c").ok());

    // carol only has the info dictionary: she is asked for a piece, and nothing is recorded.
    auto asked = share(carol_, dict.bencoded, "c");
    ASSERT_TRUE(asked.ok()) << asked.error().message;
    ASSERT_EQ(asked->size(), 1u);
    const std::int64_t piece = asked->at("prove_piece").as_int();
    ASSERT_GE(piece, 0);
    ASSERT_LT(piece, 6);
    EXPECT_EQ(files_of(carol_, "c").size(), 0u);
    // Asking again gives the same piece: retrying offers no easier one.
    EXPECT_EQ(share(carol_, dict.bencoded, "c")->at("prove_piece").as_int(), piece);

    // A wrong piece (another piece, a piece cut short, garbage) is refused.
    const std::string wrong_message = "that is not piece " + std::to_string(piece) +
                                      " of 'file': a file shared in another group can be "
                                      "shared here only by someone who has it";
    const std::string right =
        content.substr(static_cast<std::size_t>(piece * kPiece), static_cast<std::size_t>(kPiece));
    for (const std::string& bad :
         {piece_of(content, (piece + 1) % 6), right.substr(0, right.size() - 1), std::string(),
          std::string(kPiece, 'x')}) {
        EXPECT_ERROR(share(carol_, dict.bencoded, "c", bad), Errc::Denied, wrong_message);
    }
    EXPECT_EQ(files_of(carol_, "c").size(), 0u);

    // The right piece shares it.
    auto proven = share(carol_, dict.bencoded, "c", right);
    ASSERT_TRUE(proven.ok()) << proven.error().message;
    EXPECT_EQ(proven->at("new"), proto::Value(1));
    EXPECT_EQ(files_of(carol_, "c").size(), 1u);
}

TEST_F(FileTrustTest, ASeederOfTheFileElsewhereNeedsNoProof) {
    group_g({&bob_});
    auto [content, dict] = real_file(3);
    ASSERT_TRUE(share(alice_, dict.bencoded, "g").ok());
    // alice seeds it in g: she may share it in her second group at once.
    ASSERT_TRUE(make_group(alice_, "h").ok());
    auto again = share(alice_, dict.bencoded, "h");
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->at("new"), proto::Value(1));
    // bob, a member of g who seeds it there (a finished download), too.
    ASSERT_TRUE(
        limited(handle_add_seeder, &bob_, {{"group", "g"}, {"info_hash", sha1_hex(dict.bencoded)}})
            .ok());
    ASSERT_TRUE(make_group(bob_, "b").ok());
    EXPECT_EQ(share(bob_, dict.bencoded, "b")->at("new"), proto::Value(1));
    // Once he stops seeding it everywhere, a third group of his asks for the proof.
    ASSERT_TRUE(limited(handle_stop_share, &bob_, {{"group", "g"}, {"name", "file"}}).ok());
    ASSERT_TRUE(limited(handle_stop_share, &bob_, {{"group", "b"}, {"name", "file"}}).ok());
    ASSERT_TRUE(make_group(bob_, "b2").ok());
    EXPECT_TRUE(share(bob_, dict.bencoded, "b2")->count("prove_piece"));
}

TEST_F(FileTrustTest, AFileNoOtherGroupHasNeedsNoProof) {
    group_g();
    auto [content, dict] = real_file(2);
    EXPECT_EQ(share(alice_, dict.bencoded, "g")->at("new"), proto::Value(1));
    // Nor does an empty file, which has no piece to show.
    ASSERT_TRUE(make_group(bob_, "b").ok());
    InfoSpec empty;
    empty.length = 0;
    ASSERT_TRUE(share(alice_, info_bytes(empty), "g").ok());
    EXPECT_EQ(share(bob_, info_bytes(empty), "b")->at("new"), proto::Value(1));
}

TEST_F(FileTrustTest, APieceOverTheProofBoundCannotBeProven) {
    group_g();
    ASSERT_TRUE(make_group(carol_, "c").ok());
    limits_.proof_piece_bytes = kPiece;
    // At the bound: a challenge (below it: AFileSharedInAnotherGroupNeedsOneOfItsPiecesAsProof).
    auto [at, at_dict] = real_file(2);
    ASSERT_TRUE(share(alice_, at_dict.bencoded, "g").ok());
    EXPECT_TRUE(share(carol_, at_dict.bencoded, "c")->count("prove_piece"));
    // Past it: refused with a clear error, nothing recorded.
    auto [past, past_dict] = real_file(2, 0, 2 * kPiece);
    ASSERT_TRUE(make_group(alice_, "g2").ok());                 // both are named "file"
    ASSERT_TRUE(share(alice_, past_dict.bencoded, "g2").ok());  // new everywhere: no proof
    EXPECT_ERROR(share(carol_, past_dict.bencoded, "c"), Errc::Limit,
                 "'file' is shared in another group, so sharing it here needs one of its pieces "
                 "as proof that you have it, and its pieces of 32768 bytes are over the 16384 "
                 "bytes a proof may carry; share it with smaller pieces");
    EXPECT_EQ(files_of(carol_, "c").size(), 0u);
}

// ---- remove_file ----

TEST_F(FileTrustTest, TheOwnerRemovesAFileWithAllItsSeeders) {
    group_g({&bob_, &carol_});
    InfoSpec fake;
    fake.name = "secret.bin";
    fake.fill = 'f';
    ASSERT_TRUE(share(bob_, info_bytes(fake), "g").ok());
    ASSERT_TRUE(share(carol_, info_bytes(fake), "g").ok());
    InfoSpec real = fake;
    real.fill = 'r';
    EXPECT_ERROR(share(alice_, info_bytes(real), "g"), Errc::AlreadyExists,
                 "group 'g' already has a different file named 'secret.bin'");

    // Members, even the one who uploaded it, cannot; strangers and unknown files neither.
    const proto::Dict args{{"group", "g"}, {"name", "secret.bin"}};
    EXPECT_ERROR(limited(handle_remove_file, &bob_, args), Errc::Denied,
                 "only the owner of group 'g' (alice) can remove a file; to stop sharing your "
                 "own copy use stop_share g secret.bin");
    ASSERT_TRUE(make_group(carol_, "c").ok());
    EXPECT_ERROR(limited(handle_remove_file, &alice_, {{"group", "c"}, {"name", "secret.bin"}}),
                 Errc::Denied, "you are not a member of group 'c'");
    EXPECT_ERROR(limited(handle_remove_file, &alice_, {{"group", "g"}, {"name", "nope"}}),
                 Errc::NotFound, "group 'g' has no file named 'nope'");

    ASSERT_TRUE(limited(handle_remove_file, &alice_, args).ok());
    EXPECT_EQ(files_of(alice_, "g").size(), 0u);
    EXPECT_ERROR(limited(handle_get_file, &carol_, args), Errc::NotFound,
                 "group 'g' has no file named 'secret.bin'");
    const std::string hash = sha1_hex(info_bytes(fake));
    EXPECT_EQ(
        limited(handle_get_peers, &carol_, {{"group", "g"}, {"info_hash", hash}}).error().code,
        Errc::NotFound);
    EXPECT_ERROR(limited(handle_remove_file, &alice_, args), Errc::NotFound,
                 "group 'g' has no file named 'secret.bin'");
    // The name is free for the real file.
    EXPECT_EQ(share(alice_, info_bytes(real), "g")->at("new"), proto::Value(1));
}

// ---- Files per account ----

TEST_F(FileTrustTest, FilesAUserAddsAreCappedPerGroupAndInAll) {
    const std::string kHint =
        "a file frees its place when it leaves its group (stop_share by everyone sharing it, or "
        "remove_file by the owner)";
    group_g({&bob_});
    ASSERT_TRUE(make_group(alice_, "h").ok());
    limits_.files_per_group = 2;
    limits_.files_total = 3;
    auto named = [](const std::string& name) {
        InfoSpec s;
        s.name = name;
        return info_bytes(s);
    };
    // Below and at the per-group cap.
    ASSERT_TRUE(share(alice_, named("1"), "g").ok());
    ASSERT_TRUE(share(alice_, named("2"), "g").ok());
    // Past it.
    EXPECT_ERROR(share(alice_, named("3"), "g"), Errc::Limit,
                 "group 'g' already has 2 files you added, the most one account may add to a "
                 "group; " +
                     kHint);
    // Seeding a file someone else added is not adding one; another user has his own count.
    ASSERT_TRUE(share(bob_, named("b"), "g").ok());
    ASSERT_TRUE(share(alice_, named("b"), "g").ok());
    // At the total cap through another group, then past it.
    ASSERT_TRUE(share(alice_, named("3"), "h").ok());
    EXPECT_ERROR(
        share(alice_, named("4"), "h"), Errc::Limit,
        "your groups already have 3 files you added, the most one account may add; " + kHint);
    // Re-announcing a file already there still works at the cap; others' stop_share frees no
    // place while alice still shares the file.
    ASSERT_TRUE(share(bob_, named("1"), "g").ok());
    ASSERT_TRUE(limited(handle_stop_share, &bob_, {{"group", "g"}, {"name", "1"}}).ok());
    EXPECT_TRUE(share(alice_, named("1"), "g").ok());
    // A file that goes frees its place.
    ASSERT_TRUE(limited(handle_stop_share, &alice_, {{"group", "g"}, {"name", "1"}}).ok());
    EXPECT_TRUE(share(alice_, named("4"), "h").ok());
}

TEST_F(FileTrustTest, TheDefaultQuotasAreTheDocumentedOnes) {
    const FileLimits defaults;
    EXPECT_EQ(defaults.files_per_group, 1000);
    EXPECT_EQ(defaults.files_total, 10'000);
    EXPECT_EQ(defaults.addrs_per_file, 4);
    EXPECT_EQ(defaults.proof_piece_bytes, 1 << 20);
}

}  // namespace
}  // namespace gs::tracker
