#include "tracker/handlers/info_dict.hpp"

#include "shared/proto/metainfo.hpp"
#include "shared/sha1.hpp"

namespace gs::tracker {

std::string sha1_hex(std::string_view bytes) { return to_hex(sha1(bytes)); }

bool is_info_hash_hex(std::string_view text) { return from_hex(text).ok(); }

Result<CheckedInfo> check_info_dict(std::string_view bytes) {
    auto info = proto::parse_info(bytes);
    if (!info) return info.error();
    return CheckedInfo{std::move(info->name), info->length, info->piece_length,
                       to_hex(info->info_hash)};
}

}  // namespace gs::tracker
