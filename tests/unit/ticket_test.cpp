// Download tickets: signed by the tracker's key, checked by seeders (shared/ticket.hpp).
#include "shared/ticket.hpp"

#include "shared/ids.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

namespace gs {
namespace {

const Sha1Digest kHash = sha1(std::string_view("some file"));
const Sha1Digest kOtherHash = sha1(std::string_view("another file"));
constexpr std::int64_t kNow = 1'800'000'000;

TEST(Ticket, AValidTicketVerifiesAndCarriesItsFields) {
    TicketSigner signer = TicketSigner::generate();
    std::string t = signer.sign(Ticket{"alice", "movies", kHash, kNow + 60});
    auto v = verify_ticket(t, signer.public_key(), kHash, kNow);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->user, "alice");
    EXPECT_EQ(v->group, "movies");
    EXPECT_EQ(v->expires, kNow + 60);
}

TEST(Ticket, RefusesExpiredOtherFileOtherKeyAndTampering) {
    TicketSigner signer = TicketSigner::generate();
    std::string t = signer.sign(Ticket{"alice", "movies", kHash, kNow + 60});
    auto refused = [](const Result<Ticket>& r, std::string_view why) {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::Denied);
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    };
    refused(verify_ticket(t, signer.public_key(), kHash, kNow + 60), "expired");
    refused(verify_ticket(t, signer.public_key(), kOtherHash, kNow), "another file");
    refused(verify_ticket(t, TicketSigner::generate().public_key(), kHash, kNow), "bad signature");
    std::string tampered = t;
    tampered[tampered.find("alice")] = 'A';
    refused(verify_ticket(tampered, signer.public_key(), kHash, kNow), "bad signature");
    refused(verify_ticket("", signer.public_key(), kHash, kNow), "none");
    refused(verify_ticket("garbage", signer.public_key(), kHash, kNow), "malformed");
    refused(verify_ticket(t, "", kHash, kNow), "no tracker key");
}

TEST(Ticket, TicketsForTheLongestIdsFitTheCapAndLongerInputIsRefusedUnread) {
    TicketSigner signer = TicketSigner::generate();
    std::string longest = signer.sign(
        Ticket{std::string(kMaxIdBytes, 'u'), std::string(kMaxIdBytes, 'g'), kHash, kNow * 100});
    EXPECT_LE(longest.size(), kMaxTicketBytes);
    EXPECT_TRUE(verify_ticket(longest, signer.public_key(), kHash, kNow).ok());
    // At the cap the bytes are read (and found malformed); one byte more is not read at all.
    auto at_cap =
        verify_ticket(std::string(kMaxTicketBytes, 'x'), signer.public_key(), kHash, kNow);
    ASSERT_FALSE(at_cap.ok());
    EXPECT_EQ(at_cap.error().message, "ticket refused: malformed");
    auto over =
        verify_ticket(std::string(kMaxTicketBytes + 1, 'x'), signer.public_key(), kHash, kNow);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, Errc::Denied);
    EXPECT_EQ(over.error().message, "ticket refused: too long");
}

TEST(Ticket, TheKeyFileIsCreatedOnceAndReusedWithPrivateMode) {
    auto dir = std::filesystem::temp_directory_path() / ("gs-ticket-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "tracker.db.ticket-key").string();
    auto first = TicketSigner::load_or_create(path);
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto again = TicketSigner::load_or_create(path);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(first->public_key(), again->public_key());
    auto perms = std::filesystem::status(path).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::string t = first->sign(Ticket{"bob", "g", kHash, kNow + 1});
    EXPECT_TRUE(verify_ticket(t, again->public_key(), kHash, kNow).ok());
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gs
