#include "shared/liveness.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

namespace gs {
namespace {

TEST(LivenessTest, AGuardedCallRunsWhileItsOwnerLives) {
    Liveness life;
    int calls = 0;
    auto f = life.guard([&calls](int by) { calls += by; });
    f(2);
    f(3);
    EXPECT_EQ(calls, 5);
}

TEST(LivenessTest, AGuardedCallDoesNothingOnceItsOwnerIsGone) {
    auto life = std::make_unique<Liveness>();
    int calls = 0;
    std::function<void()> f = life->guard([&calls] { ++calls; });
    life.reset();
    f();
    EXPECT_EQ(calls, 0);
}

TEST(LivenessTest, AGuardedQueryAnswersWhileItsOwnerLivesAndIsEmptyAfterwards) {
    auto life = std::make_unique<Liveness>();
    std::function<int(int)> twice = life->guard([](int x) { return 2 * x; });
    EXPECT_EQ(twice(21), 42);
    life.reset();
    EXPECT_EQ(twice(21), 0);
}

}  // namespace
}  // namespace gs
