// Length-prefixed frames for client<->tracker messages (docs/protocol.md §1.1): a 4-byte
// big-endian body length, then the body. The cap is checked before any of the body is buffered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gs::proto {

inline constexpr std::size_t kFrameHeaderBytes = 4;
inline constexpr std::size_t kMaxFrameBytes = 4 * 1024 * 1024;  // docs/protocol.md §1.1

enum class FrameStatus { Incomplete, Ready, TooLarge };

struct FrameView {
    FrameStatus status = FrameStatus::Incomplete;
    std::string_view body;             // valid when Ready
    std::size_t total_bytes = 0;       // header + body, when Ready
    std::uint32_t declared_bytes = 0;  // the length prefix, once the header is in
};

// Looks at the front of `in` for one whole frame.
FrameView peek_frame(std::string_view in, std::size_t max_body_bytes = kMaxFrameBytes);

// Writes the 4-byte header of a frame of `body_bytes` at `out`.
void write_frame_header(char* out, std::uint32_t body_bytes);
void append_frame(std::string& out, std::string_view body);
std::string make_frame(std::string_view body);

}  // namespace gs::proto
