// Checks an uploaded BitTorrent v1 info dictionary (BEP 3; docs/protocol.md §1.3, upload_file)
// and computes its info hash, with the rules the clients use (proto::parse_info); chooses and
// checks the piece an uploader sends to prove it has the file (SECURITY.md). Called by
// handle_upload_file on the reactor thread.
#pragma once

#include "shared/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gs::tracker {

struct CheckedInfo {
    std::string name;
    std::int64_t length = 0;
    std::int64_t piece_length = 0;
    std::string info_hash;  // SHA1 of the exact bytes, 40 lower-case hex digits
    std::string pieces;     // 20 bytes of SHA1 per piece, concatenated

    std::int64_t piece_count() const;
};

// `bytes` must be one canonical bencoded dictionary with exactly the keys length, name,
// piece length, pieces and private: a valid file name, length >= 0, piece length a power of two
// from kMinPieceLength to kMaxPieceLength, 20 bytes of pieces per piece, and private = 1.
// BadInput "bad info dictionary: <what is wrong>" otherwise.
Result<CheckedInfo> check_info_dict(std::string_view bytes);

// The piece `user_id` must send to prove having the file: from a keyed hash (a secret the
// tracker process makes at start) of the user and the info hash, so it cannot be guessed before
// asking and is the same on every try. 0 for a file without pieces.
std::uint32_t challenge_piece(std::string_view user_id, const CheckedInfo& info);

// Whether `bytes` is exactly piece `piece` of the file: its size and its SHA1 in `pieces`.
bool is_piece(const CheckedInfo& info, std::uint32_t piece, std::string_view bytes);

// SHA1 of `bytes` as 40 lower-case hex digits.
std::string sha1_hex(std::string_view bytes);

// 40 hex digits (either case).
bool is_info_hash_hex(std::string_view text);

}  // namespace gs::tracker
