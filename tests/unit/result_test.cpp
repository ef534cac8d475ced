#include "shared/result.hpp"

#include <gtest/gtest.h>

namespace gs {
namespace {

Result<int> half(int n) {
    if (n % 2 != 0) return make_error(Errc::BadInput, "odd number");
    return n / 2;
}

TEST(Result, CarriesAValueOnSuccess) {
    auto r = half(8);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 4);
}

TEST(Result, CarriesCodeAndMessageOnFailure) {
    auto r = half(3);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::BadInput);
    EXPECT_EQ(r.error().message, "odd number");
    EXPECT_STREQ(errc_name(r.error().code), "bad_input");
}

TEST(Status, DefaultsToSuccess) {
    Status s;
    EXPECT_TRUE(s.ok());
    Status f = make_error(Errc::NotFound, "gone");
    EXPECT_FALSE(f.ok());
}

}  // namespace
}  // namespace gs
