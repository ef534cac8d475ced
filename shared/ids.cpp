#include "shared/ids.hpp"

#include <fmt/format.h>

namespace gs {
namespace {

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

}  // namespace

bool is_valid_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdBytes) return false;
    for (char c : id) {
        if (!is_id_char(c)) return false;
    }
    return true;
}

bool is_valid_file_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxFileNameBytes) return false;
    if (name == "." || name == "..") return false;
    return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    std::string_view shown = text.substr(0, max_bytes);
    for (char c : shown) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f || c == '\\') {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
        } else {
            out.push_back(c);
        }
    }
    if (shown.size() < text.size()) out += "...";
    return out;
}

}  // namespace gs
