#include "tests/unit/handlers_fixture.hpp"

#include "shared/ids.hpp"

namespace gs::tracker {
namespace {

using namespace test_support;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- Files ----

TEST_F(HandlersTest, FileOperationsAreForMembersOnly) {
    group_g();
    ASSERT_TRUE(upload(alice_, {}).ok());
    proto::Dict args{{"group", "g"},
                     {"name", "a.txt"},
                     {"info", info_bytes({})},
                     {"info_hash", sha1_hex(info_bytes({}))}};
    for (HandlerFn fn : {handle_upload_file, handle_list_files, handle_get_file, handle_stop_share,
                         handle_add_seeder}) {
        EXPECT_ERROR(call(fn, &bob_, args), Errc::Denied, "you are not a member of group 'g'");
    }
}

TEST_F(HandlersTest, UploadReturnsTheInfoHashOfTheExactBytes) {
    group_g();
    auto r = upload(alice_, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    // python3: hashlib.sha1(b'd6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:'
    //                       + b'x'*20 + b'7:privatei1ee').hexdigest()
    EXPECT_EQ(*r, (proto::Dict{{"info_hash", "111b94fb9c9d41ad36701c4f1de33fe3337f7868"},
                               {"name", "a.txt"},
                               {"length", 5},
                               {"new", 1}}));
    auto listed = files(alice_);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].get_string("info_hash"), "111b94fb9c9d41ad36701c4f1de33fe3337f7868");
}

TEST_F(HandlersTest, UploadingTheSameContentAddsASeeder) {
    group_g({&bob_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    auto again = upload(bob_, {});
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->at("new"), proto::Value(0));
    EXPECT_EQ(files(alice_)[0].get_int("seeders"), 2);
    // And once more changes nothing.
    ASSERT_TRUE(upload(bob_, {}).ok());
    EXPECT_EQ(files(alice_)[0].get_int("seeders"), 2);
}

TEST_F(HandlersTest, SameNameWithDifferentContentIsRefused) {
    group_g({&bob_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    InfoSpec other;
    other.fill = 'y';
    EXPECT_ERROR(upload(bob_, other), Errc::AlreadyExists,
                 "group 'g' already has a different file named 'a.txt'");
    EXPECT_EQ(files(alice_)[0].get_int("seeders"), 1);
}

TEST_F(HandlersTest, SameFileMayBeSharedInTwoGroups) {
    group_g();
    ASSERT_TRUE(call(handle_create_group, &alice_, {{"group", "h"}}).ok());
    ASSERT_TRUE(upload(alice_, {}).ok());
    auto r = upload(alice_, {}, "h");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->at("new"), proto::Value(1));
}

TEST_F(HandlersTest, ZeroByteFileHasNoPieces) {
    group_g();
    InfoSpec empty;
    empty.length = 0;
    auto r = upload(alice_, empty);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->at("length"), proto::Value(0));
}

TEST_F(HandlersTest, UploadChecksTheInfoDictionary) {
    group_g();
    struct Case {
        const char* what;
        InfoSpec spec;
        const char* message_part;
    };
    std::vector<Case> cases;
    auto with = [](auto change) {
        InfoSpec s;
        change(s);
        return s;
    };
    cases.push_back({"one piece hash short", with([](InfoSpec& s) { s.pieces_bytes = 19; }),
                     "'pieces' has 19 bytes"});
    cases.push_back(
        {"a piece too many", with([](InfoSpec& s) { s.pieces_bytes = 40; }), "1 pieces need 20"});
    cases.push_back({"pieces for an empty file", with([](InfoSpec& s) {
                         s.length = 0;
                         s.pieces_bytes = 20;
                     }),
                     "0 pieces need 0"});
    cases.push_back({"exact multiple of the piece length", with([](InfoSpec& s) {
                         s.length = 32768;
                         s.pieces_bytes = 60;
                     }),
                     "2 pieces need 40"});
    cases.push_back({"name with a slash", with([](InfoSpec& s) { s.name = "../x"; }),
                     "invalid file name '../x'"});
    cases.push_back({"name ..", with([](InfoSpec& s) { s.name = ".."; }), "invalid file name"});
    cases.push_back({"name .", with([](InfoSpec& s) { s.name = "."; }), "invalid file name"});
    cases.push_back({"empty name", with([](InfoSpec& s) { s.name = ""; }), "invalid file name"});
    cases.push_back({"name with NUL", with([](InfoSpec& s) { s.name = std::string("a\0b", 3); }),
                     "invalid file name 'a\\x00b'"});
    cases.push_back({"name too long", with([](InfoSpec& s) { s.name = std::string(256, 'n'); }),
                     "invalid file name"});
    cases.push_back(
        {"not private", with([](InfoSpec& s) { s.is_private = 0; }), "must be marked private"});
    cases.push_back({"private missing", with([](InfoSpec& s) { s.is_private.reset(); }),
                     "must be marked private"});
    cases.push_back({"negative length", with([](InfoSpec& s) {
                         s.length = -1;
                         s.pieces_bytes = 0;
                     }),
                     "'length' is negative"});
    cases.push_back({"piece length not a power of two",
                     with([](InfoSpec& s) { s.piece_length = 20000; }), "'piece length' 20000"});
    cases.push_back({"piece length below 16 KiB", with([](InfoSpec& s) { s.piece_length = 8192; }),
                     "'piece length' 8192"});
    cases.push_back({"piece length above 16 MiB",
                     with([](InfoSpec& s) { s.piece_length = 32 << 20; }), "'piece length'"});
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto r = upload(alice_, c.spec);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::BadInput);
        EXPECT_THAT(r.error().message, StartsWith("bad info dictionary: "));
        EXPECT_THAT(r.error().message, HasSubstr(c.message_part));
    }
    EXPECT_TRUE(files(alice_).empty());
}

TEST_F(HandlersTest, LargestAndSmallestPieceLengthsAreAccepted) {
    group_g();
    InfoSpec small;
    small.name = "small";
    small.piece_length = 16 * 1024;
    InfoSpec large;
    large.name = "large";
    large.piece_length = 16 * 1024 * 1024;
    large.length = (16 << 20) + 1;
    EXPECT_TRUE(upload(alice_, small).ok());
    EXPECT_TRUE(upload(alice_, large).ok());
}

TEST_F(HandlersTest, UploadRefusesInfoThatIsNotACanonicalFlatDictionary) {
    group_g();
    std::string pieces = "6:pieces20:" + std::string(20, 'x');
    std::vector<std::pair<std::string, std::string>> cases = {
        {"keys out of order",
         "d4:name5:a.txt6:lengthi5e12:piece lengthi16384e" + pieces + "7:privatei1ee"},
        {"trailing bytes",
         "d6:lengthi5e4:name5:a.txt12:piece lengthi16384e" + pieces + "7:privatei1eexx"},
        {"a multi-file torrent",
         "d5:filesle6:lengthi5e4:name5:a.txt12:piece lengthi16384e" + pieces + "7:privatei1ee"},
        {"a list", "li1ei2ee"},
        {"not bencode", "hello"},
        {"length as a string",
         "d6:length1:54:name5:a.txt12:piece lengthi16384e" + pieces + "7:privatei1ee"},
    };
    for (const auto& [what, bytes] : cases) {
        SCOPED_TRACE(what);
        auto r = call(handle_upload_file, &alice_, {{"group", "g"}, {"info", bytes}});
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::BadInput);
        EXPECT_THAT(r.error().message, StartsWith("bad info dictionary: "));
    }
    EXPECT_ERROR(call(handle_upload_file, &alice_, {{"group", "g"}}), Errc::BadInput,
                 "missing info dictionary");
}

TEST_F(HandlersTest, ListFilesCountsSeedersAndThoseOnline) {
    group_g({&bob_, &carol_});
    InfoSpec b;
    b.name = "b.bin";
    ASSERT_TRUE(upload(alice_, b).ok());
    ASSERT_TRUE(upload(bob_, b).ok());
    ASSERT_TRUE(upload(carol_, b).ok());
    ASSERT_TRUE(upload(bob_, {}).ok());
    online(alice_);
    online(carol_);
    // bob is online, but not where he seeds from
    online(Session{bob_.user_pk, "bob", "127.0.0.1:9999", ""});
    auto listed = files(carol_);
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0], proto::Value(proto::Dict{{"name", "a.txt"},
                                                  {"length", 5},
                                                  {"info_hash", sha1_hex(info_bytes({}))},
                                                  {"seeders", 1},
                                                  {"online", 0}}));
    EXPECT_EQ(listed[1].get_string("name"), "b.bin");
    EXPECT_EQ(listed[1].get_int("seeders"), 3);
    EXPECT_EQ(listed[1].get_int("online"), 2);

    // Members are counted, not addresses: alice seeding again from a new port (her client came
    // back on another one) is still one seeder, online once.
    Session alice_again = alice_;
    alice_again.listen_addr = "127.0.0.1:7101";
    ASSERT_TRUE(upload(alice_again, b).ok());
    online(alice_again);
    listed = files(carol_);
    EXPECT_EQ(listed[1].get_int("seeders"), 3);
    EXPECT_EQ(listed[1].get_int("online"), 2);
}

TEST_F(HandlersTest, GetFileGivesOnlineSeedersOtherThanTheCaller) {
    group_g({&bob_, &carol_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    ASSERT_TRUE(upload(bob_, {}).ok());
    ASSERT_TRUE(upload(carol_, {}).ok());
    Session alice_laptop = alice_;
    alice_laptop.listen_addr = "127.0.0.1:8001";
    ASSERT_TRUE(upload(alice_laptop, {}).ok());
    online(alice_);
    online(alice_laptop);
    online(bob_);  // carol is offline

    auto r = call(handle_get_file, &alice_, {{"group", "g"}, {"name", "a.txt"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->at("info"), proto::Value(info_bytes({})));
    EXPECT_EQ(r->at("info_hash"), proto::Value(sha1_hex(info_bytes({}))));
    EXPECT_EQ(r->at("name"), proto::Value("a.txt"));
    EXPECT_EQ(r->at("length"), proto::Value(5));
    EXPECT_EQ(r->at("peers"), proto::Value(proto::List{
                                  proto::Dict{{"user", "bob"}, {"addr", "127.0.0.1:7002"}},
                                  proto::Dict{{"user", "alice"}, {"addr", "127.0.0.1:8001"}}}));
}

TEST_F(HandlersTest, GetPeersGivesThePeersWithoutTheInfoDictionary) {
    group_g({&bob_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    ASSERT_TRUE(upload(bob_, {}).ok());
    online(alice_);
    online(bob_);
    const std::string hash = sha1_hex(info_bytes({}));
    auto r = call(handle_get_peers, &alice_, {{"group", "g"}, {"info_hash", hash}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->count("info"), 0u);
    EXPECT_EQ(r->at("peers"),
              proto::Value(proto::List{proto::Dict{{"user", "bob"}, {"addr", "127.0.0.1:7002"}}}));
    std::string upper = hash;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(call(handle_get_peers, &alice_, {{"group", "g"}, {"info_hash", upper}}).ok());
    EXPECT_ERROR(
        call(handle_get_peers, &alice_, {{"group", "g"}, {"info_hash", std::string(40, '0')}}),
        Errc::NotFound, "group 'g' has no file with info hash " + std::string(40, '0'));
    EXPECT_ERROR(call(handle_get_peers, &alice_, {{"group", "g"}, {"info_hash", "xyz"}}),
                 Errc::BadInput, "invalid info hash 'xyz': use 40 hex digits");
    EXPECT_ERROR(call(handle_get_peers, &carol_, {{"group", "g"}, {"info_hash", hash}}),
                 Errc::Denied, "you are not a member of group 'g'");
}

TEST_F(HandlersTest, GetFileOfAMissingNameIsNotFound) {
    group_g();
    EXPECT_ERROR(call(handle_get_file, &alice_, {{"group", "g"}, {"name", "x"}}), Errc::NotFound,
                 "group 'g' has no file named 'x'");
    EXPECT_ERROR(call(handle_get_file, &alice_, {{"group", "g"}, {"name", "a/b"}}), Errc::BadInput,
                 "invalid file name 'a/b': use 1-255 bytes with no '/' or NUL, and not '.' or "
                 "'..'");
}

TEST_F(HandlersTest, FileNameOfExactly255BytesIsAcceptedAnd256IsNot) {
    group_g();
    InfoSpec longest;
    longest.name = std::string(kMaxFileNameBytes, 'n');
    auto uploaded = upload(alice_, longest);
    ASSERT_TRUE(uploaded.ok()) << uploaded.error().message;
    EXPECT_EQ(files(alice_).at(0).get_string("name"), longest.name);
    EXPECT_TRUE(call(handle_get_file, &alice_, {{"group", "g"}, {"name", longest.name}}).ok());

    const std::string over(kMaxFileNameBytes + 1, 'n');
    // The name is quoted cut short, so the message stays one readable line.
    const std::string invalid = "invalid file name '" + std::string(80, 'n') +
                                "...': use 1-255 bytes with no '/' or NUL, and not '.' or '..'";
    EXPECT_ERROR(call(handle_get_file, &alice_, {{"group", "g"}, {"name", over}}), Errc::BadInput,
                 invalid);
    EXPECT_ERROR(call(handle_stop_share, &alice_, {{"group", "g"}, {"name", over}}), Errc::BadInput,
                 invalid);
    longest.name = over;
    EXPECT_ERROR(upload(alice_, longest), Errc::BadInput, "bad info dictionary: " + invalid);
}

// PostgreSQL text must be UTF-8 without NUL, SQLite takes any bytes: such names are refused by
// the handlers, before any Store call, so both engines answer with the same bad_input (never
// an `internal` error from PostgreSQL).
TEST_F(HandlersTest, NamesThatAreNotUtf8OrHoldNulAreBadInputBeforeTheStore) {
    group_g();
    const std::string not_utf8 = "caf\xe9.txt";  // Latin-1
    const std::string invalid = "invalid file name 'caf\\xe9.txt': it is not valid UTF-8";
    EXPECT_ERROR(call(handle_get_file, &alice_, {{"group", "g"}, {"name", not_utf8}}),
                 Errc::BadInput, invalid);
    EXPECT_ERROR(call(handle_stop_share, &alice_, {{"group", "g"}, {"name", not_utf8}}),
                 Errc::BadInput, invalid);
    InfoSpec spec;
    spec.name = not_utf8;
    EXPECT_ERROR(upload(alice_, spec), Errc::BadInput, "bad info dictionary: " + invalid);
    spec.name = std::string("a\0b", 3);
    EXPECT_ERROR(upload(alice_, spec), Errc::BadInput,
                 "bad info dictionary: invalid file name 'a\\x00b': use 1-255 bytes with no '/' "
                 "or NUL, and not '.' or '..'");
    for (const std::string& bad_id : {not_utf8, std::string("g\0", 2)}) {
        EXPECT_EQ(call(handle_list_files, &alice_, {{"group", bad_id}}).error().code,
                  Errc::BadInput);
        EXPECT_EQ(
            call(handle_list_files, &alice_, {{"group", "g"}, {"after", bad_id}}).error().code,
            Errc::BadInput);
    }
    EXPECT_TRUE(files(alice_).empty());
}

TEST_F(HandlersTest, StopShareRemovesTheCallerAndTheFileWithItsLastSeeder) {
    group_g({&bob_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    ASSERT_TRUE(upload(bob_, {}).ok());
    EXPECT_TRUE(call(handle_stop_share, &alice_, {{"group", "g"}, {"name", "a.txt"}}).ok());
    EXPECT_EQ(files(bob_)[0].get_int("seeders"), 1);
    EXPECT_ERROR(call(handle_stop_share, &alice_, {{"group", "g"}, {"name", "a.txt"}}),
                 Errc::NotFound, "you are not sharing 'a.txt' in group 'g'");
    EXPECT_TRUE(call(handle_stop_share, &bob_, {{"group", "g"}, {"name", "a.txt"}}).ok());
    EXPECT_TRUE(files(bob_).empty());
    EXPECT_ERROR(call(handle_stop_share, &bob_, {{"group", "g"}, {"name", "a.txt"}}),
                 Errc::NotFound, "group 'g' has no file named 'a.txt'");
}

TEST_F(HandlersTest, AddSeederJoinsAFileByItsInfoHash) {
    group_g({&bob_});
    ASSERT_TRUE(upload(alice_, {}).ok());
    std::string hash = sha1_hex(info_bytes({}));
    ASSERT_TRUE(call(handle_add_seeder, &bob_, {{"group", "g"}, {"info_hash", hash}}).ok());
    EXPECT_EQ(files(bob_)[0].get_int("seeders"), 2);
    std::string upper = hash;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ASSERT_TRUE(call(handle_add_seeder, &bob_, {{"group", "g"}, {"info_hash", upper}}).ok());
    EXPECT_EQ(files(bob_)[0].get_int("seeders"), 2);
}

TEST_F(HandlersTest, AddSeederNeedsAFileOfTheGroup) {
    group_g();
    ASSERT_TRUE(call(handle_create_group, &bob_, {{"group", "h"}}).ok());
    ASSERT_TRUE(upload(bob_, {}, "h").ok());
    std::string hash = sha1_hex(info_bytes({}));
    EXPECT_ERROR(call(handle_add_seeder, &alice_, {{"group", "g"}, {"info_hash", hash}}),
                 Errc::NotFound, "group 'g' has no file with info hash " + hash);
    EXPECT_ERROR(call(handle_add_seeder, &alice_, {{"group", "g"}, {"info_hash", "abc"}}),
                 Errc::BadInput, "invalid info hash 'abc': use 40 hex digits");
}

TEST_F(HandlersTest, LeavingStopsYourSharesInThatGroup) {
    group_g({&bob_});
    InfoSpec mine;
    mine.name = "bobs.txt";
    ASSERT_TRUE(upload(bob_, mine).ok());
    ASSERT_TRUE(upload(alice_, {}).ok());
    ASSERT_TRUE(upload(bob_, {}).ok());
    ASSERT_TRUE(call(handle_leave_group, &bob_, {{"group", "g"}}).ok());
    auto listed = files(alice_);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].get_string("name"), "a.txt");
    EXPECT_EQ(listed[0].get_int("seeders"), 1);
}

}  // namespace
}  // namespace gs::tracker
