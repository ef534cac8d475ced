#include "shared/ids.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gs {
namespace {

TEST(Ids, AcceptLettersDigitsDotUnderscoreDashUpTo64) {
    EXPECT_TRUE(is_valid_id("a"));
    EXPECT_TRUE(is_valid_id("Alice_01.dev-team"));
    EXPECT_TRUE(is_valid_id(std::string(64, 'x')));
}

TEST(Ids, RejectEmptyLongAndOtherCharacters) {
    EXPECT_FALSE(is_valid_id(""));
    EXPECT_FALSE(is_valid_id(std::string(65, 'x')));
    for (const char* bad : {"a b", "a/b", "a:b", "é", "a\nb", "a@b", "a+b"}) {
        EXPECT_FALSE(is_valid_id(bad)) << bad;
    }
    EXPECT_FALSE(is_valid_id(std::string("a\0b", 3)));
}

TEST(FileNames, AcceptUpTo255BytesOfAnythingButSlashAndNul) {
    EXPECT_TRUE(is_valid_file_name("report final (2).pdf"));
    EXPECT_TRUE(is_valid_file_name("..hidden"));
    EXPECT_TRUE(is_valid_file_name("naïve.txt"));
    EXPECT_TRUE(is_valid_file_name(std::string(255, 'n')));
}

TEST(FileNames, RejectEmptyDotsSlashNulAndTooLong) {
    EXPECT_FALSE(is_valid_file_name(""));
    EXPECT_FALSE(is_valid_file_name("."));
    EXPECT_FALSE(is_valid_file_name(".."));
    EXPECT_FALSE(is_valid_file_name("a/b"));
    EXPECT_FALSE(is_valid_file_name("/"));
    EXPECT_FALSE(is_valid_file_name(std::string("a\0b", 3)));
    EXPECT_FALSE(is_valid_file_name(std::string(256, 'n')));
}

TEST(FileNames, RejectBytesThatAreNotUtf8) {
    for (const char* bad :
         {"caf\xe9", "\xff", "\xc3(", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
        EXPECT_FALSE(is_valid_utf8(bad)) << printable(bad);
        EXPECT_FALSE(is_valid_file_name(bad)) << printable(bad);
        EXPECT_THAT(invalid_file_name_message(bad), ::testing::EndsWith("it is not valid UTF-8"));
    }
    EXPECT_TRUE(is_valid_utf8("na\xc3\xafve \xe6\x96\x87 \xf0\x9f\x98\x80 \x7f"));
    EXPECT_THAT(invalid_file_name_message(std::string("a\0\xff", 3)),
                ::testing::HasSubstr("no '/' or NUL"));
}

TEST(Printable, EscapesControlBytesAndCutsLongText) {
    EXPECT_EQ(printable("plain text"), "plain text");
    EXPECT_EQ(printable("a\nb\x7f"), "a\\x0ab\\x7f");
    EXPECT_EQ(printable("back\\slash"), "back\\x5cslash");
    EXPECT_EQ(printable(std::string(100, 'a'), 10), std::string(10, 'a') + "...");
}

TEST(Printable, KeepsPrintableUtf8AndEscapesTheRest) {
    EXPECT_EQ(printable("naïve 文件 😀"), "naïve 文件 😀");
    EXPECT_EQ(printable("\xc3("), "\\xc3(");                  // cut-off sequence
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
    EXPECT_EQ(printable("\xc2\x9b"), "\\xc2\\x9b");           // C1 control (CSI)
    EXPECT_EQ(printable("\xff"), "\\xff");
}

}  // namespace
}  // namespace gs
