// Checks an uploaded BitTorrent v1 info dictionary (BEP 3; docs/protocol.md §1.3, upload_file)
// and computes its info hash, with the rules the clients use (proto::parse_info). Pure; called
// by handle_upload_file on the reactor thread.
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
};

// `bytes` must be one canonical bencoded dictionary with exactly the keys length, name,
// piece length, pieces and private: a valid file name, length >= 0, piece length a power of two
// from kMinPieceLength to kMaxPieceLength, 20 bytes of pieces per piece, and private = 1.
// BadInput "bad info dictionary: <what is wrong>" otherwise.
Result<CheckedInfo> check_info_dict(std::string_view bytes);

// SHA1 of `bytes` as 40 lower-case hex digits.
std::string sha1_hex(std::string_view bytes);

// 40 hex digits (either case).
bool is_info_hash_hex(std::string_view text);

}  // namespace gs::tracker
