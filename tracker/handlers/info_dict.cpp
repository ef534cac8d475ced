#include "tracker/handlers/info_dict.hpp"

#include "shared/proto/metainfo.hpp"
#include "shared/sha1.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace gs::tracker {
namespace {

// The key of the challenge's keyed hash: random, made once per tracker process and never
// stored or sent, so a client cannot tell which piece it will be asked for before it asks.
const std::array<unsigned char, crypto_generichash_KEYBYTES>& challenge_key() {
    static const auto key = [] {
        if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
        std::array<unsigned char, crypto_generichash_KEYBYTES> k{};
        randombytes_buf(k.data(), k.size());
        return k;
    }();
    return key;
}

}  // namespace

std::string sha1_hex(std::string_view bytes) {
    return to_hex(sha1(bytes));
}

bool is_info_hash_hex(std::string_view text) {
    return from_hex(text).ok();
}

Result<CheckedInfo> check_info_dict(std::string_view bytes) {
    auto info = proto::parse_info(bytes);
    if (!info) return info.error();
    return CheckedInfo{std::move(info->name), info->length, info->piece_length,
                       to_hex(info->info_hash), std::move(info->pieces)};
}

std::int64_t CheckedInfo::piece_count() const {
    return static_cast<std::int64_t>(pieces.size() / proto::kPieceHashBytes);
}

std::uint32_t challenge_piece(std::string_view user_id, const CheckedInfo& info) {
    if (info.piece_count() == 0) return 0;
    // BLAKE2b keyed with the process's secret over "user \0 info hash": the same user gets the
    // same piece of a file on every try, so asking again does not offer another piece.
    std::string message(user_id);
    message.push_back('\0');
    message += info.info_hash;
    unsigned char out[8];
    const auto& key = challenge_key();
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), key.data(), key.size());
    std::uint64_t value = 0;
    for (unsigned char b : out) value = (value << 8) | b;
    return static_cast<std::uint32_t>(value % static_cast<std::uint64_t>(info.piece_count()));
}

bool is_piece(const CheckedInfo& info, std::uint32_t piece, std::string_view bytes) {
    if (piece >= info.piece_count()) return false;
    const std::int64_t start = static_cast<std::int64_t>(piece) * info.piece_length;
    const std::int64_t size = std::min(info.piece_length, info.length - start);
    if (static_cast<std::int64_t>(bytes.size()) != size) return false;
    const Sha1Digest digest = sha1(bytes);
    const std::string_view expected =
        std::string_view(info.pieces)
            .substr(std::size_t{piece} * proto::kPieceHashBytes, proto::kPieceHashBytes);
    return std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()) ==
           expected;
}

}  // namespace gs::tracker
