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

Result<InfoDict> parse_info(std::string_view bencoded) {
    // One dictionary of five scalars: anything deeper or bigger is not ours.
    auto v = decode(bencoded, DecodeLimits{.max_depth = 1, .max_items = 16});
    if (!v) return bad(v.error().message);
    if (!v->is_dict()) return bad("not a dictionary");
    for (const auto& [key, value] : v->as_dict()) {
        if (!is_known_key(key)) return bad(fmt::format("unexpected key \"{}\"", printable(key)));
    }
    auto name = v->get_string("name");
    auto length = v->get_int("length");
    auto piece_length = v->get_int("piece length");
    auto pieces = v->get_string("pieces");
    auto priv = v->get_int("private");
    if (!name) return bad("no name");
    if (!length) return bad("no length");
    if (!piece_length) return bad("no piece length");
    if (!pieces) return bad("no pieces");
    if (!priv) return bad("no private flag");
    if (!is_valid_file_name(*name)) return bad("the name is not a plain file name");
    if (*length < 0) return bad("negative length");
    if (*piece_length < kMinPieceLengthBytes || *piece_length > kMaxPieceLengthBytes ||
        (*piece_length & (*piece_length - 1)) != 0) {
        return bad("piece length is not a power of two from 16 KiB to 16 MiB");
    }
    const std::int64_t count = piece_count_for(*length, *piece_length);
    if (count > std::numeric_limits<std::uint32_t>::max()) return bad("too many pieces");
    if (pieces->size() != static_cast<std::uint64_t>(count) * kPieceHashBytes) {
        return bad("pieces is not 20 bytes per piece");
    }
    if (*priv != 1) return bad("private is not 1");
    InfoDict info;
    info.name = std::string(*name);
    info.length = *length;
    info.piece_length = *piece_length;
    info.pieces = std::string(*pieces);
    info.bencoded = std::string(bencoded);
    info.info_hash = info_hash(bencoded);
    return info;
}

Sha1Digest info_hash(std::string_view bencoded) { return sha1(bencoded); }

}  // namespace gs::proto
