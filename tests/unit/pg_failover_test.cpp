// A PgStore on a multi-host URI (libpq's target_session_attrs=read-write) over a primary and a
// synchronous standby made by scripts/pg-cluster.sh: the primary dies, the standby is promoted,
// the store's next call reconnects to it, and the write acknowledged before the crash is there.
#include "tracker/pg/pg_store.hpp"

#include "tests/pg_cluster.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using Script = test::PgTestCluster;

const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 10h;

std::string trimmed(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s.substr(s.rfind('\n') + 1);
}

// The host part of a socket cluster's URI: "postgresql://postgres@HOST:PORT/postgres".
std::string host_port(const std::string& uri) {
    auto at = uri.find('@') + 1;
    return uri.substr(at, uri.rfind('/') - at);
}

class PgFailoverTest : public ::testing::Test {
protected:
    ~PgFailoverTest() override {
        for (const auto* dir : {&primary_, &standby_}) {
            Script::run_script("stop " + dir->path().string() + " --discard >/dev/null 2>&1");
        }
    }

    test::TempDir primary_;
    test::TempDir standby_;
};

TEST_F(PgFailoverTest, TheStoreFollowsAPromotedStandbyAndLosesNoAcknowledgedWrite) {
    auto [started, primary_out] = Script::run_script("start " + primary_.path().string() + " 2>&1");
    ASSERT_EQ(started, 0) << primary_out;
    auto [followed, standby_out] = Script::run_script("start-standby " + primary_.path().string() +
                                                      " " + standby_.path().string() + " 2>&1");
    ASSERT_EQ(followed, 0) << standby_out;
    const std::string uri = "postgresql://postgres@" + host_port(trimmed(primary_out)) + "," +
                            host_port(trimmed(standby_out)) +
                            "/postgres?target_session_attrs=read-write";

    auto opened = PgStore::open(uri, "tracker-1");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    auto& store = **opened;
    ASSERT_TRUE(*store.create_user("alice", "$argon2id$fake", kNow));  // acknowledged

    auto [stopped, stop_out] =
        Script::run_script("stop " + primary_.path().string() + " --discard 2>&1");
    ASSERT_EQ(stopped, 0) << stop_out;
    auto [promoted, promote_out] =
        Script::run_script("promote " + standby_.path().string() + " 2>&1");
    ASSERT_EQ(promoted, 0) << promote_out;

    // The primary's server closed the connection as it stopped: the next call finds it closed
    // before it goes out, reconnects (to the promoted standby) and finds the acknowledged write.
    // Before: that call failed with "database unavailable", and only the one after worked.
    auto found = store.user_exists("alice");
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_TRUE(*found);
    EXPECT_TRUE(*store.create_user("bob", "$argon2id$fake", kNow));
}

}  // namespace
}  // namespace gs::tracker
