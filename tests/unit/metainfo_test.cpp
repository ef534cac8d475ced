#include "shared/proto/metainfo.hpp"

#include "shared/proto/bencode.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <random>

namespace gs::proto {
namespace {

constexpr std::int64_t kPiece = kPieceLengthBytes;

void write_file(const std::string& path, std::size_t size) {
    std::mt19937 rng(static_cast<std::uint32_t>(size));
    std::string bytes(size, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
}

// A valid info dictionary of `length` bytes; tests change one entry at a time.
Dict valid_dict(std::int64_t length = 3 * kPiece / 2) {
    std::int64_t pieces = (length + kPiece - 1) / kPiece;
    return Dict{{"length", length},
                {"name", "file.bin"},
                {"piece length", kPiece},
                {"pieces", std::string(static_cast<std::size_t>(pieces) * 20, 'h')},
                {"private", 1}};
}

std::string with(const std::string& key, Value value) {
    Dict d = valid_dict();
    d[key] = std::move(value);
    return encode(Value(std::move(d)));
}

std::string without(const std::string& key) {
    Dict d = valid_dict();
    d.erase(key);
    return encode(Value(std::move(d)));
}

void expect_rejected(const std::string& bencoded, std::string_view why) {
    auto info = parse_info(bencoded);
    ASSERT_FALSE(info.ok()) << "accepted although " << why;
    EXPECT_EQ(info.error().code, Errc::BadInput);
}

TEST(Metainfo, BuildsAnInfoDictThatParsesBack) {
    test::TempDir dir;
    std::string path = dir.file("data");
    write_file(path, 5 * kPiece / 2 + 3);
    auto built = build_info(path, "report.pdf", 2);
    ASSERT_TRUE(built.ok()) << built.error().message;
    auto info = parse_info(*built);
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->name, "report.pdf");
    EXPECT_EQ(info->length, 5 * kPiece / 2 + 3);
    EXPECT_EQ(info->piece_length, kPiece);
    EXPECT_EQ(info->piece_count(), 3u);
    EXPECT_EQ(info->pieces, *hash_file_pieces(path, kPiece, 1));
    EXPECT_EQ(info->bencoded, *built);
    EXPECT_EQ(info->info_hash, sha1(*built));
    EXPECT_EQ(info_hash(*built), sha1(*built));
}

TEST(Metainfo, BuildsExactlyTheFiveKeysInSortedOrder) {
    test::TempDir dir;
    std::ofstream(dir.file("a"), std::ios::binary) << "0123456789";
    auto built = build_info(dir.file("a"), "a", 1);
    ASSERT_TRUE(built.ok());
    EXPECT_EQ(*built, "d6:lengthi10e4:name1:a12:piece lengthi524288e6:pieces20:" +
                          digest_bytes(sha1("0123456789")) + "7:privatei1ee");
}

TEST(Metainfo, BuildsAnEmptyFile) {
    test::TempDir dir;
    write_file(dir.file("empty"), 0);
    auto built = build_info(dir.file("empty"), "empty", 0);
    ASSERT_TRUE(built.ok());
    auto info = parse_info(*built);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->length, 0);
    EXPECT_EQ(info->piece_count(), 0u);
    EXPECT_EQ(info->pieces, "");
}

TEST(Metainfo, BuildRefusesABadNameOrAMissingFile) {
    test::TempDir dir;
    write_file(dir.file("a"), 1);
    EXPECT_EQ(build_info(dir.file("a"), "a/b", 1).error().code, Errc::BadInput);
    EXPECT_EQ(build_info(dir.file("a"), "", 1).error().code, Errc::BadInput);
    EXPECT_EQ(build_info(dir.file("missing"), "a", 1).error().code, Errc::Io);
}

TEST(Metainfo, KnowsPieceSizesIncludingAShortLastPiece) {
    auto info = parse_info(encode(Value(valid_dict(2 * kPiece + 100))));
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->piece_count(), 3u);
    EXPECT_EQ(info->piece_size(0), kPiece);
    EXPECT_EQ(info->piece_size(2), 100u);
    EXPECT_EQ(info->piece_hash(1), std::string(20, 'h'));
    EXPECT_EQ(piece_count_for(0, kPiece), 0);
    EXPECT_EQ(piece_count_for(kPiece, kPiece), 1);
    EXPECT_EQ(piece_count_for(kPiece + 1, kPiece), 2);
    EXPECT_EQ(piece_count_for(std::numeric_limits<std::int64_t>::max(), 1 << 24),
              (std::int64_t{1} << 39));
}

TEST(Metainfo, AcceptsAnExactMultipleAndA255ByteName) {
    EXPECT_TRUE(parse_info(encode(Value(valid_dict(4 * kPiece)))).ok());
    EXPECT_TRUE(parse_info(with("name", std::string(255, 'n'))).ok());
    EXPECT_TRUE(parse_info(with("name", "..hidden")).ok());
}

TEST(Metainfo, RejectsInputThatIsNotACanonicalDictionary) {
    expect_rejected("", "empty");
    expect_rejected("le", "a list");
    expect_rejected("i1e", "an integer");
    std::string valid = encode(Value(valid_dict()));
    expect_rejected(valid + "x", "trailing bytes");
    expect_rejected(valid.substr(0, valid.size() - 1), "truncated");
    expect_rejected("d4:name1:a6:lengthi1ee", "keys unsorted");
}

TEST(Metainfo, RejectsMissingKeys) {
    for (const char* key : {"length", "name", "piece length", "pieces", "private"}) {
        expect_rejected(without(key), std::string("no ") + key);
    }
}

TEST(Metainfo, RejectsWrongTypes) {
    expect_rejected(with("name", 5), "name is an integer");
    expect_rejected(with("length", "5"), "length is a string");
    expect_rejected(with("piece length", List{}), "piece length is a list");
    expect_rejected(with("pieces", 0), "pieces is an integer");
    expect_rejected(with("private", "1"), "private is a string");
}

TEST(Metainfo, EachRejectionSaysWhatIsWrongInOneLine) {
    auto message = [](const std::string& bencoded) {
        auto info = parse_info(bencoded);
        return info.ok() ? std::string("accepted") : info.error().message;
    };
    EXPECT_EQ(message(with("files", List{})),
              "bad info dictionary: unexpected key 'files' (only single-file torrents with "
              "length, name, piece length, pieces and private)");
    EXPECT_EQ(message(without("pieces")),
              "bad info dictionary: 'pieces' is missing or not a string");
    EXPECT_EQ(message(with("private", 0)),
              "bad info dictionary: it must be marked private (private: 1)");
    EXPECT_EQ(message(with("name", "a/b")),
              "bad info dictionary: invalid file name 'a/b': use 1-255 bytes with no '/' or NUL, "
              "and not '.' or '..'");
    EXPECT_EQ(message(with("piece length", 8192)),
              "bad info dictionary: 'piece length' 8192 is not a power of two from 16384 to "
              "16777216");
    EXPECT_EQ(message(with("pieces", std::string(20, 'h'))),
              "bad info dictionary: 'pieces' has 20 bytes but 2 pieces need 40");
}

TEST(Metainfo, RejectsUnexpectedKeys) {
    expect_rejected(with("files", List{}), "a multi-file key");
    expect_rejected(with("zzz", 1), "an unknown key");
}

TEST(Metainfo, RejectsNamesThatAreNotPlainFileNames) {
    expect_rejected(with("name", ""), "empty name");
    expect_rejected(with("name", std::string(256, 'n')), "256-byte name");
    expect_rejected(with("name", "dir/file"), "a slash");
    expect_rejected(with("name", "/etc"), "an absolute path");
    expect_rejected(with("name", std::string("a\0b", 3)), "a NUL");
    expect_rejected(with("name", "."), "dot");
    expect_rejected(with("name", ".."), "dot dot");
}

TEST(Metainfo, RejectsANegativeLength) {
    Dict d = valid_dict();
    d["length"] = -1;
    d["pieces"] = "";
    expect_rejected(encode(Value(d)), "negative length");
}

TEST(Metainfo, RejectsPiecesThatDoNotFitTheLength) {
    expect_rejected(with("pieces", std::string(20, 'h')), "one hash for two pieces");
    expect_rejected(with("pieces", std::string(60, 'h')), "three hashes for two pieces");
    expect_rejected(with("pieces", std::string(39, 'h')), "not a multiple of 20");
    expect_rejected(with("length", std::numeric_limits<std::int64_t>::max()), "a huge length");
}

TEST(Metainfo, RejectsPieceLengthsOutsidePowersOfTwoFrom16KiBTo16MiB) {
    for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-kPiece}, std::int64_t{8192}, kPiece + 1,
                             std::int64_t{3} << 16, std::int64_t{32} << 20}) {
        Dict d = valid_dict(0);
        d["piece length"] = bad;
        expect_rejected(encode(Value(d)), "piece length " + std::to_string(bad));
    }
    for (std::int64_t good : {std::int64_t{16} << 10, std::int64_t{16} << 20}) {
        Dict d = valid_dict(0);
        d["piece length"] = good;
        EXPECT_TRUE(parse_info(encode(Value(d))).ok()) << good;
    }
}

TEST(Metainfo, RejectsAnythingButPrivateOne) {
    expect_rejected(with("private", 0), "private 0");
    expect_rejected(with("private", 2), "private 2");
}

}  // namespace
}  // namespace gs::proto
