#include "shared/ids.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace gs {
namespace {

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

}  // namespace

bool is_valid_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdBytes) return false;
    for (char c : id) {
        if (!is_id_char(c)) return false;
    }
    return true;
}

namespace {

// The multi-byte UTF-8 sequence starting at text[i] (its lead byte 0x80 or more): its length and
// code point, or length 0 when it is not well-formed.
struct Utf8Sequence {
    std::size_t length = 0;
    std::uint32_t code_point = 0;
};

Utf8Sequence utf8_sequence_at(std::string_view text, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    std::size_t n = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    if (n == 0 || lead > 0xf4 || i + n > text.size()) return {};
    std::uint32_t cp = lead & (0x7f >> n);
    for (std::size_t k = 1; k < n; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return {};
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {};
    return {n, cp};
}

// Length of the valid UTF-8 sequence for a printable code point (U+00A0 and up, so no C1
// controls) starting at text[i]; 0 when there is none.
std::size_t printable_utf8_length(std::string_view text, std::size_t i) {
    const Utf8Sequence seq = utf8_sequence_at(text, i);
    return seq.code_point >= 0xa0 ? seq.length : 0;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence_at(text, i).length;
        if (n == 0) return false;
        i += n;
    }
    return true;
}

bool is_valid_file_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxFileNameBytes) return false;
    if (name == "." || name == "..") return false;
    return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
           is_valid_utf8(name);
}

std::string invalid_file_name_message(std::string_view name) {
    if (name.find('\0') == std::string_view::npos && !is_valid_utf8(name)) {
        return fmt::format("invalid file name '{}': it is not valid UTF-8", printable(name));
    }
    return fmt::format(
        "invalid file name '{}': use 1-255 bytes with no '/' or NUL, and not '.' or '..'",
        printable(name));
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size() && i < max_bytes) {
        auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
            out.push_back(text[i++]);
        } else if (std::size_t n = byte >= 0x80 ? printable_utf8_length(text, i) : 0; n > 0) {
            out.append(text.substr(i, n));
            i += n;
        } else {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
            ++i;
        }
    }
    if (i < text.size()) out += "...";
    return out;
}

}  // namespace gs
