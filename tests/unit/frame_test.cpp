// Frames (shared/proto/frame.hpp, docs/protocol.md §1.1): a 4-byte big-endian length, then the
// body; the cap is checked from the header alone.
#include "shared/proto/frame.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gs::proto {
namespace {

std::string header(std::uint32_t length) {
    return {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
            static_cast<char>(length >> 8), static_cast<char>(length)};
}

TEST(Framer, MakesABigEndianLengthThenTheBody) {
    EXPECT_EQ(make_frame("abc"), header(3) + "abc");
    EXPECT_EQ(make_frame(""), header(0));
    std::string out = "x";
    append_frame(out, std::string(300, 'b'));
    EXPECT_EQ(out, "x" + header(300) + std::string(300, 'b'));
}

TEST(Framer, WaitsForTheWholeHeaderAndBody) {
    const std::string frame = make_frame("hello");
    for (std::size_t n = 0; n < frame.size(); ++n) {
        FrameView v = peek_frame(std::string_view(frame).substr(0, n));
        EXPECT_EQ(v.status, FrameStatus::Incomplete) << n << " bytes";
    }
    FrameView v = peek_frame(frame + "next");
    ASSERT_EQ(v.status, FrameStatus::Ready);
    EXPECT_EQ(v.body, "hello");
    EXPECT_EQ(v.total_bytes, frame.size());
}

TEST(Framer, AcceptsAFrameBelowAndExactlyAtTheCap) {
    for (std::size_t size : {kMaxFrameBytes - 1, kMaxFrameBytes}) {
        const std::string frame = make_frame(std::string(size, 'x'));
        FrameView v = peek_frame(frame);
        ASSERT_EQ(v.status, FrameStatus::Ready) << size;
        EXPECT_EQ(v.body.size(), size);
        EXPECT_EQ(v.declared_bytes, size);
    }
    // With only the header in, a frame at the cap is waited for, not refused.
    EXPECT_EQ(peek_frame(header(kMaxFrameBytes)).status, FrameStatus::Incomplete);
}

TEST(Framer, RejectsLengthAboveCapBeforeReadingBody) {
    FrameView v = peek_frame(header(kMaxFrameBytes + 1));
    EXPECT_EQ(v.status, FrameStatus::TooLarge);
    EXPECT_EQ(v.declared_bytes, kMaxFrameBytes + 1);
    EXPECT_EQ(peek_frame(header(0xffffffff)).status, FrameStatus::TooLarge);
    // The cap is a parameter: a smaller one is enforced the same way, at and past its bound.
    EXPECT_EQ(peek_frame(make_frame(std::string(10, 'x')), 10).status, FrameStatus::Ready);
    EXPECT_EQ(peek_frame(header(11), 10).status, FrameStatus::TooLarge);
}

}  // namespace
}  // namespace gs::proto
