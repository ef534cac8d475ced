#include "peer/wire/extended_handshake.hpp"

#include "peer/wire/message.hpp"

#include <gtest/gtest.h>

namespace gs::peer::wire {
namespace {

void expect_rejected(std::string_view body) {
    auto h = parse_extended_handshake(body);
    ASSERT_FALSE(h.ok()) << "accepted " << body;
    EXPECT_EQ(h.error().code, Errc::Protocol);
}

TEST(ExtendedHandshake, OursCarriesAnEmptyMVersionAndPort) {
    EXPECT_EQ(encode_extended_handshake_body(our_extended_handshake(6881)),
              "d1:mde1:pi6881e1:v14:groupshare 0.1e");
}

TEST(ExtendedHandshake, RoundTripsThroughAnExtendedMessage) {
    ExtendedHandshake ours = our_extended_handshake(4000);
    ours.m.emplace("ut_example", 3);
    ours.extra.emplace("ticket", std::string("\x01\x02opaque", 8));
    std::string msg;
    encode_extended_handshake(msg, ours);

    std::size_t consumed = 0;
    auto m = parse_message(msg, consumed);
    ASSERT_TRUE(m.ok() && m->has_value());
    EXPECT_EQ((*m)->id, MsgId::Extended);
    EXPECT_EQ((*m)->extended_id, kExtendedHandshakeId);
    auto back = parse_extended_handshake((*m)->payload);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, ours);
}

TEST(ExtendedHandshake, KeepsUnknownKeysAndAllowsMissingOnes) {
    using namespace std::literals;
    auto h = parse_extended_handshake(
        "d4:reqqi250e6:yourip4:\x7f\x00\x00\x01"
        "e"sv);
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(h->m.empty());
    EXPECT_FALSE(h->client.has_value());
    EXPECT_FALSE(h->port.has_value());
    EXPECT_EQ(h->extra.size(), 2u);
    EXPECT_EQ(h->extra.at("reqq").as_int(), 250);
}

TEST(ExtendedHandshake, RejectsWhatIsNotABoundedDictionary) {
    expect_rejected("");
    expect_rejected("le");
    expect_rejected("d1:pi1e");  // truncated
    expect_rejected(
        "d1:pi1ee"
        "x");
    expect_rejected("d1:x" + std::string(10, 'l') + std::string(10, 'e') + "e");  // too deep
    std::string many = "d1:xl";
    for (int i = 0; i < 300; ++i) many += "i1e";
    expect_rejected(many + "ee");
}

TEST(ExtendedHandshake, RejectsBep10FieldsOfTheWrongTypeOrRange) {
    expect_rejected("d1:mi1ee");
    expect_rejected("d1:md3:fooi256eee");
    expect_rejected("d1:md3:fooi-1eee");
    expect_rejected("d1:md3:foo1:xee");
    expect_rejected("d1:pi0ee");
    expect_rejected("d1:pi65536ee");
    expect_rejected("d1:p4:8080e");
    expect_rejected("d1:vi1ee");
    EXPECT_TRUE(parse_extended_handshake("d1:md3:fooi255eee").ok());
    EXPECT_TRUE(parse_extended_handshake("d1:pi65535ee").ok());
}

}  // namespace
}  // namespace gs::peer::wire
