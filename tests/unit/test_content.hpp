// Content for tests that move files around: seeded random bytes, the info dictionary that
// describes them, and a whole file read back.
#pragma once

#include "shared/proto/bencode.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/sha1.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

namespace gs::test {

// `n` bytes that depend only on `seed`.
inline std::string random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

// The info dictionary of a file named "file" holding `content`, cut into `piece_length` pieces.
inline proto::InfoDict info_for(const std::string& content, std::int64_t piece_length) {
    std::string pieces;
    for (std::size_t at = 0; at < content.size(); at += static_cast<std::size_t>(piece_length)) {
        pieces += digest_bytes(
            sha1(std::string_view(content).substr(at, static_cast<std::size_t>(piece_length))));
    }
    proto::Dict d{{"length", static_cast<std::int64_t>(content.size())},
                  {"name", "file"},
                  {"piece length", piece_length},
                  {"pieces", pieces},
                  {"private", 1}};
    auto info = proto::parse_info(proto::encode(proto::Value(d)));
    EXPECT_TRUE(info.ok()) << (info.ok() ? "" : info.error().message);
    return info.ok() ? *info : proto::InfoDict{};
}

// The whole file ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace gs::test
