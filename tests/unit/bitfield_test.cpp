#include "shared/bitfield.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gs {
namespace {

TEST(Bitfield, UsesBep3BitOrder) {
    Bitfield b(10);
    b.set(0);
    b.set(9);
    // Piece 0 is the high bit of byte 0; piece 9 is the second-highest bit of byte 1.
    EXPECT_EQ(b.to_bytes(), std::string("\x80\x40", 2));
}

TEST(Bitfield, CountsWhatIsSet) {
    Bitfield b(20);
    EXPECT_TRUE(b.none());
    EXPECT_FALSE(b.all());
    b.set(3);
    b.set(3);  // setting twice counts once
    b.set(19);
    EXPECT_EQ(b.count(), 2u);
    EXPECT_TRUE(b.has(3));
    EXPECT_FALSE(b.has(4));
    b.reset(3);
    b.reset(3);
    EXPECT_EQ(b.count(), 1u);
    EXPECT_FALSE(b.has(3));
}

TEST(Bitfield, SetAllLeavesSpareBitsClear) {
    Bitfield b(11);
    b.set_all();
    EXPECT_TRUE(b.all());
    EXPECT_EQ(b.count(), 11u);
    EXPECT_EQ(b.to_bytes(), std::string("\xff\xe0", 2));
}

TEST(Bitfield, AnEmptyBitfieldIsBothAllAndNone) {
    Bitfield b(0);
    EXPECT_TRUE(b.all());
    EXPECT_TRUE(b.none());
    EXPECT_EQ(b.to_bytes(), "");
    auto parsed = Bitfield::from_bytes("", 0);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->size(), 0u);
}

TEST(Bitfield, RoundTripsThroughBytes) {
    Bitfield b(17);
    for (std::size_t i : {0u, 5u, 8u, 16u}) b.set(i);
    auto back = Bitfield::from_bytes(b.to_bytes(), 17);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, b);
    EXPECT_EQ(back->count(), 4u);
}

TEST(Bitfield, FromBytesRejectsAWrongLength) {
    EXPECT_FALSE(Bitfield::from_bytes(std::string(2, '\0'), 17).ok());
    EXPECT_FALSE(Bitfield::from_bytes(std::string(4, '\0'), 17).ok());
    EXPECT_EQ(Bitfield::from_bytes("", 1).error().code, Errc::Protocol);
}

TEST(Bitfield, FromBytesRejectsSpareBitsSet) {
    EXPECT_FALSE(Bitfield::from_bytes(std::string("\xff\x01", 2), 9).ok());
    EXPECT_FALSE(Bitfield::from_bytes(std::string("\x01", 1), 7).ok());
    EXPECT_TRUE(Bitfield::from_bytes(std::string("\xff\x80", 2), 9).ok());
    EXPECT_TRUE(Bitfield::from_bytes(std::string("\xff", 1), 8).ok());
}

}  // namespace
}  // namespace gs
