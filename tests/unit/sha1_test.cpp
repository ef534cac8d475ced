#include "shared/sha1.hpp"

#include "tests/unit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace gs {
namespace {

std::string random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The obvious single-threaded answer to compare with.
std::string reference_pieces(const std::string& bytes, std::size_t piece_length) {
    std::string out;
    for (std::size_t at = 0; at < bytes.size(); at += piece_length) {
        out += digest_bytes(sha1(std::string_view(bytes).substr(at, piece_length)));
    }
    return out;
}

TEST(Sha1, MatchesKnownVectors) {
    EXPECT_EQ(to_hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(to_hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(to_hex(sha1("The quick brown fox jumps over the lazy dog")),
              "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    EXPECT_EQ(to_hex(sha1(std::string(1'000'000, 'a'))),
              "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, HashesByteSpansLikeStrings) {
    std::string text = "abc";
    auto bytes = std::as_bytes(std::span(text.data(), text.size()));
    EXPECT_EQ(sha1(bytes), sha1(text));
}

TEST(Sha1, HexRoundTripsAndAcceptsUpperCase) {
    Sha1Digest d = sha1("abc");
    auto back = from_hex(to_hex(d));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, d);
    auto upper = from_hex("A9993E364706816ABA3E25717850C26C9CD0D89D");
    ASSERT_TRUE(upper.ok());
    EXPECT_EQ(*upper, d);
}

TEST(Sha1, FromHexRejectsWrongLengthAndNonHex) {
    EXPECT_FALSE(from_hex("").ok());
    EXPECT_FALSE(from_hex(std::string(39, 'a')).ok());
    EXPECT_FALSE(from_hex(std::string(41, 'a')).ok());
    EXPECT_FALSE(from_hex(std::string(39, 'a') + "g").ok());
    EXPECT_EQ(from_hex("zz").error().code, Errc::BadInput);
}

TEST(Sha1, RawDigestBytesRoundTrip) {
    Sha1Digest d = sha1("x");
    std::string raw = digest_bytes(d);
    ASSERT_EQ(raw.size(), 20u);
    EXPECT_EQ(to_hex(raw), to_hex(d));
    auto back = digest_from_bytes(raw);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, d);
    EXPECT_FALSE(digest_from_bytes("short").ok());
}

class HashFilePieces : public ::testing::Test {
protected:
    test::TempDir dir_;
};

TEST_F(HashFilePieces, MatchesTheSingleThreadedAnswerForOddSizes) {
    constexpr std::size_t kPiece = 16 * 1024;
    // Sizes around piece and chunk (4 MiB) boundaries.
    for (std::size_t size :
         {std::size_t{1}, kPiece - 1, kPiece, kPiece + 1, 5 * kPiece + 7, std::size_t{4 << 20} - 1,
          std::size_t{4 << 20} + kPiece + 3, std::size_t{9 << 20} + 12345}) {
        std::string bytes = random_bytes(size, static_cast<std::uint32_t>(size));
        std::string path = dir_.file("f" + std::to_string(size));
        write_file(path, bytes);
        std::string want = reference_pieces(bytes, kPiece);
        for (unsigned threads : {1u, 2u, 3u, 8u, 0u}) {
            std::int64_t length = -1;
            auto got = hash_file_pieces(path, kPiece, threads, {}, &length);
            ASSERT_TRUE(got.ok()) << got.error().message;
            EXPECT_EQ(*got, want) << size << " bytes with " << threads << " threads";
            EXPECT_EQ(length, static_cast<std::int64_t>(size));
        }
    }
}

TEST_F(HashFilePieces, HandlesPiecesLargerThanAChunk) {
    constexpr std::size_t kPiece = 8 << 20;
    std::string bytes = random_bytes(kPiece * 2 + 100, 7);
    write_file(dir_.file("big"), bytes);
    auto got = hash_file_pieces(dir_.file("big"), kPiece, 2);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, reference_pieces(bytes, kPiece));
}

TEST_F(HashFilePieces, GivesNoPiecesForAnEmptyFile) {
    write_file(dir_.file("empty"), "");
    std::int64_t length = -1;
    auto got = hash_file_pieces(dir_.file("empty"), 16384, 4, {}, &length);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, "");
    EXPECT_EQ(length, 0);
}

TEST_F(HashFilePieces, ReportsProgressUpToTheTotal) {
    std::string bytes = random_bytes((10 << 20) + 3, 1);
    write_file(dir_.file("p"), bytes);
    std::vector<std::int64_t> seen;
    auto got =
        hash_file_pieces(dir_.file("p"), 512 * 1024, 2, [&](std::int64_t done, std::int64_t total) {
            EXPECT_EQ(total, static_cast<std::int64_t>(bytes.size()));
            seen.push_back(done);  // calls are serialised
        });
    ASSERT_TRUE(got.ok());
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), static_cast<std::int64_t>(bytes.size()));
}

TEST_F(HashFilePieces, FailsForAMissingFileOrADirectory) {
    auto missing = hash_file_pieces(dir_.file("nope"), 16384, 1);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::Io);
    auto directory = hash_file_pieces(dir_.path().string(), 16384, 1);
    ASSERT_FALSE(directory.ok());
    EXPECT_EQ(directory.error().code, Errc::BadInput);
}

}  // namespace
}  // namespace gs
