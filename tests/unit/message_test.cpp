#include "peer/wire/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gs::peer::wire {
namespace {

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

std::string encoded(const Message& m) {
    std::string out;
    encode_message(out, m);
    return out;
}

Message parse_one(std::string_view in, std::size_t* consumed_out = nullptr) {
    std::size_t consumed = 0;
    auto m = parse_message(in, consumed);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    if (!m.ok() || !m->has_value()) {
        ADD_FAILURE() << "no message";
        return {};
    }
    EXPECT_EQ(consumed, in.size());
    if (consumed_out != nullptr) *consumed_out = consumed;
    return **m;
}

void expect_rejected(std::string_view in) {
    std::size_t consumed = 0;
    auto m = parse_message(in, consumed);
    ASSERT_FALSE(m.ok()) << "accepted " << in.size() << " bytes";
    EXPECT_EQ(m.error().code, Errc::Protocol);
}

const std::string kBlock(kBlockBytes, 'b');

std::vector<Message> every_kind() {
    std::vector<Message> all;
    Message m;
    m.keep_alive = true;
    all.push_back(m);
    for (MsgId id : {MsgId::Choke, MsgId::Unchoke, MsgId::Interested, MsgId::NotInterested}) {
        all.push_back(Message{.id = id});
    }
    all.push_back(Message{.id = MsgId::Have, .index = 0xdeadbeef});
    all.push_back(Message{.id = MsgId::Bitfield, .payload = "\xf0\x01"});
    all.push_back(Message{.id = MsgId::Request, .index = 3, .begin = 16384, .length = 16384});
    all.push_back(Message{.id = MsgId::Cancel, .index = 3, .begin = 0, .length = 100});
    all.push_back(Message{.id = MsgId::Piece, .index = 7, .begin = 32768, .payload = "xyz"});
    all.push_back(Message{.id = MsgId::Piece, .index = 1, .begin = 0, .payload = kBlock});
    all.push_back(Message{.id = MsgId::Extended, .extended_id = 0, .payload = "de"});
    all.push_back(Message{.id = MsgId::Extended, .extended_id = 3, .payload = ""});
    return all;
}

TEST(Message, EveryKindRoundTrips) {
    for (const Message& m : every_kind()) {
        std::string bytes = encoded(m);
        EXPECT_EQ(parse_one(bytes), m) << "id " << static_cast<int>(m.id);
    }
}

TEST(Message, EncodesBep3Bytes) {
    std::string out;
    encode_keep_alive(out);
    EXPECT_EQ(out, be32(0));
    out.clear();
    encode_state(out, MsgId::Interested);
    EXPECT_EQ(out, be32(1) + "\x02");
    out.clear();
    encode_have(out, 9);
    EXPECT_EQ(out, be32(5) + "\x04" + be32(9));
    out.clear();
    encode_request(out, 1, 2, 3);
    EXPECT_EQ(out, be32(13) + "\x06" + be32(1) + be32(2) + be32(3));
    out.clear();
    encode_cancel(out, 1, 2, 3);
    EXPECT_EQ(out, be32(13) + "\x08" + be32(1) + be32(2) + be32(3));
    out.clear();
    encode_extended(out, 0, "de");
    EXPECT_EQ(out, be32(4) + "\x14" + std::string(1, '\0') + "de");
}

TEST(Message, PieceHeaderIsThirteenBytesAndCountsTheBlock) {
    std::string header;
    encode_piece_header(header, 5, 16384, 100);
    ASSERT_EQ(header.size(), kPieceMessageHeaderBytes);
    EXPECT_EQ(header, be32(109) + "\x07" + be32(5) + be32(16384));
    std::string whole;
    encode_piece(whole, 5, 16384, std::string(100, 'z'));
    EXPECT_EQ(whole, header + std::string(100, 'z'));
}

TEST(Message, PiecePayloadIsAViewIntoTheInput) {
    std::string in;
    encode_piece(in, 2, 0, kBlock);
    Message m = parse_one(in);
    EXPECT_EQ(m.payload.data(), in.data() + kPieceMessageHeaderBytes);
    EXPECT_EQ(m.payload.size(), kBlockBytes);
}

TEST(Message, ReturnsNothingUntilAWholeMessageIsThere) {
    for (const Message& m : every_kind()) {
        std::string bytes = encoded(m);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            std::size_t consumed = 12345;
            auto r = parse_message(std::string_view(bytes).substr(0, n), consumed);
            ASSERT_TRUE(r.ok()) << n;
            EXPECT_FALSE(r->has_value()) << n;
            EXPECT_EQ(consumed, 12345u);
        }
    }
}

TEST(Message, ParsesMessagesBackToBack) {
    std::string in;
    encode_have(in, 1);
    encode_keep_alive(in);
    encode_state(in, MsgId::Unchoke);
    std::string_view rest = in;
    std::vector<Message> got;
    while (!rest.empty()) {
        std::size_t consumed = 0;
        auto m = parse_message(rest, consumed);
        ASSERT_TRUE(m.ok() && m->has_value());
        got.push_back(**m);
        rest.remove_prefix(consumed);
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].index, 1u);
    EXPECT_TRUE(got[1].keep_alive);
    EXPECT_EQ(got[2].id, MsgId::Unchoke);
}

TEST(Message, RejectsALengthAboveTheCapBeforeReadingTheBody) {
    expect_rejected(be32(kMaxMessageBytes + 1));
    expect_rejected(be32(0xffffffff));
    std::size_t consumed = 0;
    auto at_cap = parse_message(be32(kMaxMessageBytes) + "\x05", consumed);
    ASSERT_TRUE(at_cap.ok());  // a bitfield at the cap is allowed: wait for it
    EXPECT_FALSE(at_cap->has_value());
}

TEST(Message, TheLargestMessageOfEachKindIsParsedAndOneByteMoreIsRefused) {
    // The largest message overall is a bitfield at kMaxBitfieldBytes: exactly kMaxMessageBytes.
    const std::string bits(kMaxBitfieldBytes, '\xff');
    std::string bitfield;
    encode_bitfield(bitfield, bits);
    ASSERT_EQ(bitfield.size(), kLengthPrefixBytes + kMaxMessageBytes);
    EXPECT_EQ(parse_one(bitfield).payload.size(), kMaxBitfieldBytes);
    EXPECT_EQ(parse_one(be32(kMaxBitfieldBytes) + "\x05" + bits.substr(1)).payload.size(),
              kMaxBitfieldBytes - 1);
    std::string extended;
    encode_extended(extended, 1, std::string(kMaxExtendedBytes, 'e'));
    EXPECT_EQ(parse_one(extended).payload.size(), kMaxExtendedBytes);

    std::size_t consumed = 0;
    auto over = parse_message(be32(kMaxMessageBytes + 1) + "\x05", consumed);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, Errc::Protocol);
    EXPECT_EQ(over.error().message, "message of 262146 bytes is over the 262145 byte limit");
    auto long_extended = parse_message(be32(2 + kMaxExtendedBytes + 1) + "\x14", consumed);
    ASSERT_FALSE(long_extended.ok());
    EXPECT_EQ(long_extended.error().message, "message 20 of 16387 bytes (expected 2 to 16386)");
    auto long_block =
        parse_message(be32(kPieceHeaderBytes + kMaxBlockBytes + 1) + "\x07", consumed);
    ASSERT_FALSE(long_block.ok());
    EXPECT_EQ(long_block.error().message, "message 7 of 16394 bytes (expected 10 to 16393)");
}

TEST(Message, RejectsLengthsThatDoNotFitTheIdFromTheIdByte) {
    expect_rejected(be32(2) + std::string(1, '\0'));  // choke with a body
    expect_rejected(be32(4) + "\x04");                // short have
    expect_rejected(be32(6) + "\x04");                // long have
    expect_rejected(be32(12) + "\x06");               // short request
    expect_rejected(be32(14) + "\x08");               // long cancel
    expect_rejected(be32(9) + "\x07");                // piece without a block
    expect_rejected(be32(kPieceHeaderBytes + kMaxBlockBytes + 1) + "\x07");  // block too big
    expect_rejected(be32(1) + "\x14");                                       // extended without id
    expect_rejected(be32(2 + kMaxExtendedBytes + 1) + "\x14");               // extended too big
}

TEST(Message, RejectsUnknownIds) {
    for (int id : {9, 13, 19, 21, 255}) {
        expect_rejected(be32(1) + std::string(1, static_cast<char>(id)));
    }
}

TEST(Message, AcceptsTheLargestBlockAndAnEmptyBitfield) {
    std::string in;
    encode_piece(in, 0, 0, kBlock);
    EXPECT_EQ(parse_one(in).payload.size(), kMaxBlockBytes);
    Message empty = parse_one(be32(1) + "\x05");
    EXPECT_EQ(empty.id, MsgId::Bitfield);
    EXPECT_TRUE(empty.payload.empty());
}

}  // namespace
}  // namespace gs::peer::wire
