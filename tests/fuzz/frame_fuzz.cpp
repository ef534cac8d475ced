// libFuzzer target: the frame reader (shared/proto/frame.hpp) as net::Connection drives it — bytes
// arrive in chunks into a net::Buffer and whole frames are pulled from its front until one is
// incomplete or announced too large.
//
// Input: byte 0 picks the body cap, bytes 1-3 seed the chunk sizes, the rest is the byte stream.
// Checks: no frame is over the cap; each frame is exactly its length prefix and body; the frames
// (and where reading stopped) do not depend on how the stream was chunked, and match a plain
// reference reading of the whole stream.
#include "shared/net/buffer.hpp"
#include "shared/proto/frame.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace gs;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "frame_fuzz: %s\n", what);
    std::abort();
}

struct Reading {
    std::vector<std::string> frames;
    bool too_large = false;
    std::uint32_t too_large_declared = 0;
    std::size_t leftover = 0;  // bytes left unread when the stream ended (not after too_large)
};

// The reference: the format read straight off the whole stream, without peek_frame.
Reading read_reference(std::string_view s, std::size_t cap) {
    Reading r;
    std::size_t at = 0;
    while (s.size() - at >= 4) {
        std::uint32_t n = 0;
        for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(s[at + i]);
        if (n > cap) {
            r.too_large = true;
            r.too_large_declared = n;
            return r;
        }
        if (s.size() - at - 4 < n) break;
        r.frames.emplace_back(s.substr(at + 4, n));
        at += 4 + n;
    }
    r.leftover = s.size() - at;
    return r;
}

// What Connection::process_input does after each read.
bool pull_frames(net::Buffer& in, std::size_t cap, Reading& r) {
    while (true) {
        auto frame = proto::peek_frame(in.view(), cap);
        if (frame.status == proto::FrameStatus::Incomplete) return true;
        if (frame.status == proto::FrameStatus::TooLarge) {
            if (frame.declared_bytes <= cap) fail("TooLarge for a length within the cap");
            r.too_large = true;
            r.too_large_declared = frame.declared_bytes;
            in.clear();
            return false;
        }
        if (frame.body.size() > cap) fail("a frame is over the cap");
        if (frame.declared_bytes != frame.body.size()) fail("declared length != body size");
        if (frame.total_bytes != proto::kFrameHeaderBytes + frame.body.size()) {
            fail("total_bytes != header + body");
        }
        if (frame.total_bytes > in.size()) fail("frame runs past the buffered bytes");
        if (proto::make_frame(frame.body) != in.view().substr(0, frame.total_bytes)) {
            fail("make_frame(body) differs from the bytes read");
        }
        r.frames.emplace_back(frame.body);
        in.consume(frame.total_bytes);
    }
}

bool same(const Reading& a, const Reading& b) {
    return a.frames == b.frames && a.too_large == b.too_large &&
           a.too_large_declared == b.too_large_declared && a.leftover == b.leftover;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    // Caps: the real one, or a small one so that "too large" is reached by short inputs too.
    const std::size_t cap = data[0] >= 0x80 ? proto::kMaxFrameBytes : std::size_t{data[0]} * 8;
    std::uint32_t seed = (std::uint32_t{data[1]} << 16) | (std::uint32_t{data[2]} << 8) | data[3];
    seed |= 1;  // xorshift needs a non-zero state
    const std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);

    const Reading expected = read_reference(stream, cap);

    // Chunked: sizes from a small xorshift, 1..64 bytes, like short reads from a socket.
    Reading chunked;
    net::Buffer in;
    std::size_t at = 0;
    bool open = true;
    while (open && at < stream.size()) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        std::size_t n = std::min<std::size_t>(1 + seed % 64, stream.size() - at);
        in.append(stream.substr(at, n));
        at += n;
        open = pull_frames(in, cap, chunked);
    }
    if (open) chunked.leftover = in.size();
    if (!same(chunked, expected)) fail("chunked reading differs from the reference");

    // All at once.
    Reading whole;
    net::Buffer all;
    all.append(stream);
    if (pull_frames(all, cap, whole)) whole.leftover = all.size();
    if (!same(whole, expected)) fail("whole-stream reading differs from the reference");
    return 0;
}
