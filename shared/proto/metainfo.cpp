#include "shared/proto/metainfo.hpp"

#include "shared/ids.hpp"
#include "shared/proto/bencode.hpp"

#include <fmt/format.h>

#include <limits>

namespace gs::proto {

namespace {

Error bad(std::string_view why) {
    return make_error(Errc::BadInput, fmt::format("bad info dictionary: {}", why));
}

bool is_known_key(std::string_view key) {
    return key == "length" || key == "name" || key == "piece length" || key == "pieces" ||
           key == "private";
}

}  // namespace

std::int64_t piece_count_for(std::int64_t length, std::int64_t piece_length) {
    assert(length >= 0 && piece_length > 0);
    return length / piece_length + (length % piece_length != 0 ? 1 : 0);
}

Result<std::string> build_info(const std::string& path, std::string_view name, unsigned threads,
                               const HashProgress& progress) {
    if (!is_valid_file_name(name)) {
        return make_error(Errc::BadInput,
                          "a file name is 1-255 bytes, without '/', and not '.' or '..'");
    }
    std::int64_t length = 0;
    auto pieces = hash_file_pieces(path, kPieceLengthBytes, threads, progress, &length);
    if (!pieces) return pieces.error();
    Dict d{{"length", length},
           {"name", std::string(name)},
           {"piece length", kPieceLengthBytes},
           {"pieces", std::move(pieces).value()},
           {"private", 1}};
    return encode(Value(std::move(d)));
}

// The messages reach the user who uploads a file (the tracker answers with them), so each one
// names the key and what it should be.
Result<InfoDict> parse_info(std::string_view bencoded) {
    // One dictionary of five scalars: anything deeper or bigger is not ours.
    auto v = decode(bencoded, DecodeLimits{.max_depth = 1, .max_items = 16});
    if (!v) return bad(v.error().message);
    if (!v->is_dict()) return bad("not a dictionary");
    for (const auto& [key, value] : v->as_dict()) {
        if (!is_known_key(key)) {
            return bad(
                fmt::format("unexpected key '{}' (only single-file torrents with length, "
                            "name, piece length, pieces and private)",
                            printable(key)));
        }
    }
    auto name = v->get_string("name");
    auto length = v->get_int("length");
    auto piece_length = v->get_int("piece length");
    auto pieces = v->get_string("pieces");
    auto priv = v->get_int("private");
    if (!name) return bad("'name' is missing or not a string");
    if (!length) return bad("'length' is missing or not an integer");
    if (!piece_length) return bad("'piece length' is missing or not an integer");
    if (!pieces) return bad("'pieces' is missing or not a string");
    if (!priv || *priv != 1) return bad("it must be marked private (private: 1)");
    if (!is_valid_file_name(*name)) return bad(invalid_file_name_message(*name));
    if (*length < 0) return bad("'length' is negative");
    if (*piece_length < kMinPieceLengthBytes || *piece_length > kMaxPieceLengthBytes ||
        (*piece_length & (*piece_length - 1)) != 0) {
        return bad(fmt::format("'piece length' {} is not a power of two from {} to {}",
                               *piece_length, kMinPieceLengthBytes, kMaxPieceLengthBytes));
    }
    const std::int64_t count = piece_count_for(*length, *piece_length);
    if (count > std::numeric_limits<std::uint32_t>::max()) {
        return bad(fmt::format("{} pieces are more than a file may have", count));
    }
    if (pieces->size() != static_cast<std::uint64_t>(count) * kPieceHashBytes) {
        return bad(fmt::format("'pieces' has {} bytes but {} pieces need {}", pieces->size(), count,
                               static_cast<std::uint64_t>(count) * kPieceHashBytes));
    }
    InfoDict info;
    info.name = std::string(*name);
    info.length = *length;
    info.piece_length = *piece_length;
    info.pieces = std::string(*pieces);
    info.bencoded = std::string(bencoded);
    info.info_hash = info_hash(bencoded);
    return info;
}

Sha1Digest info_hash(std::string_view bencoded) {
    return sha1(bencoded);
}

}  // namespace gs::proto
