// Rules for the names people type: user and group ids, file names (docs/protocol.md §1.2).
// Shared by the tracker's handlers and the client's prompt. Pure, any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gs {

inline constexpr std::size_t kMaxIdBytes = 64;         // docs/protocol.md §1.2
inline constexpr std::size_t kMaxFileNameBytes = 255;  // docs/protocol.md §1.2

// 1-64 characters of A-Z a-z 0-9 . _ -
bool is_valid_id(std::string_view id);

// 1-255 bytes of valid UTF-8, no '/', no NUL, not "." or "..". (Text in PostgreSQL must be
// UTF-8 without NUL; the rule is the same whatever the tracker's database.)
bool is_valid_file_name(std::string_view name);

// The error message for a name is_valid_file_name refuses: "invalid file name '...': ..." (one
// line, the name quoted with printable()).
std::string invalid_file_name_message(std::string_view name);

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);

// `text` made safe to quote inside a one-line message: printable ASCII and printable UTF-8 stay,
// other bytes (controls, invalid UTF-8, '\') become \xNN, and text past `max_bytes` is cut
// and marked with "...".
std::string printable(std::string_view text, std::size_t max_bytes = 80);

}  // namespace gs
