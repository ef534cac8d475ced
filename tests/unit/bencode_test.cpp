#include "shared/proto/bencode.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace gs::proto {
namespace {

Value roundtrip(const Value& v) {
    auto decoded = decode(encode(v));
    EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().message);
    return decoded.ok() ? *decoded : Value();
}

void expect_rejected(std::string_view text) {
    auto v = decode(text);
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
    if (!v.ok()) {
        EXPECT_EQ(v.error().code, Errc::BadInput);
    }
}

TEST(Bencode, EncodesEachTypeAsBep3Says) {
    EXPECT_EQ(encode(Value(42)), "i42e");
    EXPECT_EQ(encode(Value(-7)), "i-7e");
    EXPECT_EQ(encode(Value(0)), "i0e");
    EXPECT_EQ(encode(Value("spam")), "4:spam");
    EXPECT_EQ(encode(Value("")), "0:");
    EXPECT_EQ(encode(Value(List{"spam", 1})), "l4:spami1ee");
    EXPECT_EQ(encode(Value(Dict{{"spam", "eggs"}, {"cow", "moo"}})), "d3:cow3:moo4:spam4:eggse");
}

TEST(Bencode, RoundTripsNestedValues) {
    Value v(Dict{{"list", List{1, -2, "x", List{}, Dict{}}},
                 {"int", std::numeric_limits<std::int64_t>::max()},
                 {"min", std::numeric_limits<std::int64_t>::min()},
                 {"bytes", std::string("\0\xff\x01", 3)},
                 {"dict", Dict{{"a", Dict{{"b", List{"c"}}}}}}});
    EXPECT_EQ(roundtrip(v), v);
}

TEST(Bencode, SortsKeysAsRawBytes) {
    // BEP 3: keys sorted as raw strings, so 0xff sorts after 'z' (unsigned comparison).
    Value v(Dict{{"z", 1}, {std::string("\xff"), 2}, {"A", 3}});
    EXPECT_EQ(encode(v), "d1:Ai3e1:zi1e1:\xffi2ee");
    EXPECT_EQ(roundtrip(v), v);
    expect_rejected("d1:\xffi2e1:zi1ee");
}

TEST(Bencode, DecodesBinaryStringsWithEmbeddedNul) {
    auto v = decode(std::string_view("3:a\0b", 5));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->as_string(), std::string("a\0b", 3));
}

TEST(Bencode, LooksUpTypedDictionaryEntries) {
    auto v = decode("d1:ai1e1:b1:x1:cle1:ddee");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->get_int("a"), 1);
    EXPECT_EQ(v->get_string("b"), "x");
    EXPECT_NE(v->get_list("c"), nullptr);
    EXPECT_NE(v->get_dict("d"), nullptr);
    EXPECT_EQ(v->get_int("b"), std::nullopt);  // wrong type
    EXPECT_EQ(v->get_string("missing"), std::nullopt);
    EXPECT_EQ(Value(1).find("a"), nullptr);  // not a dict
}

TEST(Bencode, RejectsLeadingZeros) {
    expect_rejected("i01e");
    expect_rejected("i-01e");
    expect_rejected("i00e");
    expect_rejected("01:a");
    expect_rejected("00:");
}

TEST(Bencode, RejectsNegativeZero) {
    expect_rejected("i-0e");
}

TEST(Bencode, RejectsMalformedIntegers) {
    expect_rejected("ie");
    expect_rejected("i-e");
    expect_rejected("i+1e");
    expect_rejected("i1.5e");
    expect_rejected("i 1e");
    expect_rejected("i9223372036854775808e");  // one past int64 max
    expect_rejected("i12");                    // unterminated
}

TEST(Bencode, RejectsUnsortedAndDuplicateKeys) {
    expect_rejected("d1:bi1e1:ai2ee");
    expect_rejected("d1:ai1e1:ai2ee");
    expect_rejected("d2:abi1e1:ai2ee");  // "a" < "ab": a prefix sorts first
    EXPECT_TRUE(decode("d1:ai2e2:abi1ee").ok());
}

TEST(Bencode, RejectsNonStringKeys) {
    expect_rejected("di1ei2ee");
    expect_rejected("dlei1ee");
}

TEST(Bencode, RejectsTrailingBytes) {
    expect_rejected("i1ei2e");
    expect_rejected("4:spamx");
    expect_rejected("dee");
}

TEST(Bencode, RejectsEmptyInputAndUnknownTypes) {
    expect_rejected("");
    expect_rejected("x");
    expect_rejected("e");
}

TEST(Bencode, RejectsStringsLongerThanTheInput) {
    expect_rejected("5:spam");
    expect_rejected("99999999999999999999:x");
    expect_rejected("18446744073709551615:x");
}

TEST(Bencode, DecodePrefixReportsWhatItConsumed) {
    std::size_t consumed = 0;
    auto v = decode_prefix("i5eXYZ", consumed);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->as_int(), 5);
    EXPECT_EQ(consumed, 3u);
}

TEST(Bencode, EnforcesTheDepthLimit) {
    std::string deep(40, 'l');
    deep += std::string(40, 'e');
    expect_rejected(deep);
    std::string ok = std::string(5, 'l') + std::string(5, 'e');
    EXPECT_TRUE(decode(ok, DecodeLimits{.max_depth = 4, .max_items = 100}).ok());
    EXPECT_FALSE(decode(ok, DecodeLimits{.max_depth = 3, .max_items = 100}).ok());
}

TEST(Bencode, EnforcesTheItemLimit) {
    std::string list = "li1ei1ei1ei1ee";
    EXPECT_TRUE(decode(list, DecodeLimits{.max_depth = 4, .max_items = 4}).ok());
    EXPECT_FALSE(decode(list, DecodeLimits{.max_depth = 4, .max_items = 3}).ok());
    EXPECT_FALSE(decode("d1:ai1e1:bi2ee", DecodeLimits{.max_depth = 4, .max_items = 1}).ok());
    // Items are counted across nested containers, not per container.
    EXPECT_FALSE(decode("ll1:al1:bee", DecodeLimits{.max_depth = 4, .max_items = 3}).ok());
}

TEST(Bencode, DefaultLimitsHoldAtTheirBoundAndRefuseOneMoreWithAReason) {
    const DecodeLimits defaults;
    // Depth: the top value is at depth 0, so max_depth + 1 nested lists are the most allowed.
    auto nested = [](std::size_t lists) {
        return std::string(lists, 'l') + std::string(lists, 'e');
    };
    EXPECT_TRUE(decode(nested(defaults.max_depth + 1)).ok());
    auto too_deep = decode(nested(defaults.max_depth + 2));
    ASSERT_FALSE(too_deep.ok());
    EXPECT_EQ(too_deep.error().code, Errc::BadInput);
    EXPECT_EQ(too_deep.error().message, "bad bencode at byte 33: nesting too deep");

    // Items: list elements and dict entries, counted over the whole value.
    auto list_of = [](std::size_t items) {
        std::string out = "l";
        for (std::size_t i = 0; i < items; ++i) out += "i0e";
        return out + "e";
    };
    EXPECT_TRUE(decode(list_of(defaults.max_items)).ok());
    auto too_many = decode(list_of(defaults.max_items + 1));
    ASSERT_FALSE(too_many.ok());
    EXPECT_EQ(too_many.error().code, Errc::BadInput);
    EXPECT_EQ(too_many.error().message, "bad bencode at byte 3000001: too many items");
}

TEST(Bencode, EveryTruncationIsRejectedWithoutCrashing) {
    std::string full = encode(Value(Dict{{"a", List{1, "two", Dict{{"x", -3}}}},
                                         {"pieces", std::string(40, '\x07')},
                                         {"z", std::numeric_limits<std::int64_t>::min()}}));
    ASSERT_TRUE(decode(full).ok());
    for (std::size_t n = 0; n < full.size(); ++n) {
        std::string prefix = full.substr(0, n);  // own buffer: reads past it show under ASan
        EXPECT_FALSE(decode(prefix).ok()) << "prefix of " << n << " bytes accepted";
    }
}

TEST(Bencode, EverySingleByteCorruptionIsHandled) {
    std::string full = encode(Value(Dict{{"k", List{1, "ab"}}, {"n", 12}}));
    for (std::size_t i = 0; i < full.size(); ++i) {
        for (int b : {0, int{'-'}, int{'0'}, int{'9'}, int{':'}, int{'d'}, int{'e'}, int{'i'},
                      int{'l'}, 0xff}) {
            std::string mutated = full;
            mutated[i] = static_cast<char>(b);
            auto v = decode(mutated);
            // Whatever it decodes to must re-encode to the same bytes (canonical form).
            if (v.ok()) {
                EXPECT_EQ(encode(*v), mutated);
            }
        }
    }
}

}  // namespace
}  // namespace gs::proto
