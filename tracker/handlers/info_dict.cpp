#include "tracker/handlers/info_dict.hpp"

#include "shared/ids.hpp"
#include "shared/proto/bencode.hpp"
#include "tracker/handlers/handlers.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace gs::tracker {
namespace {

constexpr std::int64_t kPieceHashBytes = 20;  // SHA1 per piece, BEP 3
constexpr std::array<std::string_view, 5> kKeys = {"length", "name", "piece length", "pieces",
                                                   "private"};
// An info dict is flat: no nesting, five entries.
constexpr proto::DecodeLimits kInfoLimits{2, 16};

Error bad_info(std::string what) {
    return make_error(Errc::BadInput, "bad info dictionary: " + std::move(what));
}

bool is_power_of_two(std::int64_t n) {
    return n > 0 && (n & (n - 1)) == 0;
}

}  // namespace

std::string sha1_hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha1(), nullptr) != 1) {
        std::fprintf(stderr, "bug: OpenSSL cannot compute SHA1\n");
        std::abort();
    }
    std::string hex;
    for (unsigned int i = 0; i < size; ++i)
        fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
    return hex;
}

bool is_info_hash_hex(std::string_view text) {
    if (text.size() != 40) return false;
    for (char c : text) {
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex) return false;
    }
    return true;
}

Result<CheckedInfo> check_info_dict(std::string_view bytes) {
    auto decoded = proto::decode(bytes, kInfoLimits);
    if (!decoded) return bad_info(decoded.error().message);
    const proto::Value& info = *decoded;
    if (!info.is_dict()) return bad_info("not a dictionary");
    for (const auto& [key, value] : info.as_dict()) {
        bool known = false;
        for (auto k : kKeys) known = known || key == k;
        if (!known) {
            return bad_info(
                fmt::format("unexpected key '{}' (only single-file torrents with "
                            "length, name, piece length, pieces and private)",
                            printable(key)));
        }
    }
    auto name = info.get_string("name");
    auto length = info.get_int("length");
    auto piece_length = info.get_int("piece length");
    auto pieces = info.get_string("pieces");
    auto is_private = info.get_int("private");
    if (!name) return bad_info("'name' is missing or not a string");
    if (!length) return bad_info("'length' is missing or not an integer");
    if (!piece_length) return bad_info("'piece length' is missing or not an integer");
    if (!pieces) return bad_info("'pieces' is missing or not a string");
    if (!is_private || *is_private != 1) return bad_info("it must be marked private (private: 1)");
    if (!is_valid_file_name(*name)) {
        return bad_info(
            fmt::format("invalid file name '{}': use 1-255 bytes with no '/' or NUL, "
                        "and not '.' or '..'",
                        printable(*name)));
    }
    if (*length < 0) return bad_info("'length' is negative");
    if (!is_power_of_two(*piece_length) || *piece_length < kMinPieceLength ||
        *piece_length > kMaxPieceLength) {
        return bad_info(fmt::format("'piece length' {} is not a power of two from {} to {}",
                                    *piece_length, kMinPieceLength, kMaxPieceLength));
    }
    std::int64_t piece_count = *length / *piece_length + (*length % *piece_length != 0 ? 1 : 0);
    std::int64_t want = piece_count * kPieceHashBytes;
    if (static_cast<std::int64_t>(pieces->size()) != want) {
        return bad_info(fmt::format("'pieces' has {} bytes but {} pieces need {}", pieces->size(),
                                    piece_count, want));
    }
    return CheckedInfo{std::string(*name), *length, *piece_length, sha1_hex(bytes)};
}

}  // namespace gs::tracker
