// BitTorrent v1 info dictionaries (BEP 3) for one file, as groupshare uses them
// (docs/protocol.md §1.3): {length, name, piece length, pieces, private: 1}, bencoded with sorted
// keys; the SHA1 of exactly those bytes is the info hash. Pure, any thread (build_info reads the
// whole file: run it on a worker).
#pragma once

#include "shared/result.hpp"
#include "shared/sha1.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>

namespace gs::proto {

inline constexpr std::int64_t kPieceLengthBytes = 512 * 1024;  // what our clients build with
// Accepted piece lengths: powers of two in [16 KiB, 16 MiB] (one block .. a sane buffer).
inline constexpr std::int64_t kMinPieceLengthBytes = 16 * 1024;
inline constexpr std::int64_t kMaxPieceLengthBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kPieceHashBytes = 20;  // BEP 3: SHA1 per piece

// ceil(length / piece_length) without overflow.
std::int64_t piece_count_for(std::int64_t length, std::int64_t piece_length);

struct InfoDict {
    std::string name;
    std::int64_t length = 0;
    std::int64_t piece_length = 0;
    std::string pieces;  // 20 bytes per piece, concatenated
    // Filled by parse_info: the exact bytes parsed and their SHA1.
    std::string bencoded;
    Sha1Digest info_hash{};

    std::uint32_t piece_count() const {
        return static_cast<std::uint32_t>(pieces.size() / kPieceHashBytes);
    }
    // Bytes in piece i: piece_length, except that the last piece may be short.
    std::uint32_t piece_size(std::uint32_t i) const {
        assert(i < piece_count());
        return static_cast<std::uint32_t>(
            std::min(piece_length, length - static_cast<std::int64_t>(i) * piece_length));
    }
    std::string_view piece_hash(std::uint32_t i) const {
        assert(i < piece_count());
        return std::string_view(pieces).substr(std::size_t{i} * kPieceHashBytes, kPieceHashBytes);
    }
};

// Hashes the file at `path` with `threads` threads (0: every core) and returns its bencoded info
// dictionary with piece length kPieceLengthBytes. BadInput for an invalid `name`, Io when the
// file cannot be read.
Result<std::string> build_info(const std::string& path, std::string_view name, unsigned threads,
                               const HashProgress& progress = {});

// Decodes and checks an info dictionary: canonical bencode, exactly the five keys, a plain file
// name, length >= 0, piece length a power of two in [16 KiB, 16 MiB], 20 bytes of pieces per
// piece, private = 1. BadInput saying what is wrong otherwise.
Result<InfoDict> parse_info(std::string_view bencoded);

Sha1Digest info_hash(std::string_view bencoded);

}  // namespace gs::proto
