// Shared by the handlers tests: a SqliteStore on a temp database, three users with sessions,
// online() to put a client in the store's presence, and helpers to call handlers and build info
// dictionaries.
#pragma once

#include "tracker/handlers/handlers.hpp"

#include "tracker/handlers/info_dict.hpp"
#include "tracker/sqlite_store.hpp"

#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

namespace gs::tracker::test_support {

using namespace std::chrono_literals;

inline const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 10h;

struct InfoSpec {
    std::string name = "a.txt";
    std::int64_t length = 5;
    std::int64_t piece_length = 16384;
    std::optional<std::size_t> pieces_bytes;  // default: 20 per piece
    std::optional<std::int64_t> is_private = 1;
    char fill = 'x';
};

inline std::string info_bytes(const InfoSpec& spec) {
    std::int64_t pieces = spec.length / spec.piece_length + (spec.length % spec.piece_length != 0);
    proto::Dict d{{"length", spec.length},
                  {"name", spec.name},
                  {"piece length", spec.piece_length},
                  {"pieces", std::string(spec.pieces_bytes.value_or(20 * pieces), spec.fill)}};
    if (spec.is_private) d["private"] = *spec.is_private;
    return proto::encode(proto::Value(std::move(d)));
}

class HandlersTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto opened = SqliteStore::open(dir_.file("tracker.db"));
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        store_ = std::move(opened).value();
        alice_ = account("alice", "127.0.0.1:7001");
        bob_ = account("bob", "127.0.0.1:7002");
        carol_ = account("carol", "127.0.0.1:7003");
    }

    Session account(const std::string& id, const std::string& addr) {
        EXPECT_TRUE(*store_->create_user(id, "$argon2id$v=19$fake", kNow));
        auto creds = store_->password_hash_of(id);
        return Session{(*creds)->user_pk, id, addr, ""};
    }

    Reply call(HandlerFn fn, const Session* who, proto::Dict args = {}) {
        Context ctx{who, *store_, now_};
        return fn(ctx, proto::Value(std::move(args)));
    }

    // `fn` called by `who` about `user` in `group` (accept_request, reject_request, remove_member).
    Reply call_about(HandlerFn fn, const Session* who, const std::string& user,
                     const std::string& group = "g") {
        return call(fn, who, {{"group", group}, {"user", user}});
    }

    // A connection of `s` is live: the store's presence has it (as the Dispatcher tells it).
    void online(const Session& s) {
        ASSERT_TRUE(store_->set_online(next_conn_++, s.user_pk, s.listen_addr, "").ok());
    }

    // alice owns "g"; `members` were admitted through requests she accepted.
    void group_g(std::initializer_list<const Session*> members = {}) {
        ASSERT_TRUE(call(handle_create_group, &alice_, {{"group", "g"}}).ok());
        for (const Session* m : members) {
            ASSERT_TRUE(call(handle_join_group, m, {{"group", "g"}}).ok());
            ASSERT_TRUE(
                call(handle_accept_request, &alice_, {{"group", "g"}, {"user", m->user_id}}).ok());
        }
    }

    Reply upload(const Session& who, const InfoSpec& spec, const std::string& group = "g") {
        return call(handle_upload_file, &who, {{"group", group}, {"info", info_bytes(spec)}});
    }

    proto::List files(const Session& who) {
        auto r = call(handle_list_files, &who, {{"group", "g"}});
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? r->at("files").as_list() : proto::List{};
    }

    gs::test::TempDir dir_;
    std::unique_ptr<SqliteStore> store_;
    std::uint64_t next_conn_ = 1;  // connection ids for online()
    TimePoint now_ = kNow;
    Session alice_, bob_, carol_;
};

}  // namespace gs::tracker::test_support

// Expects `reply` to fail with exactly this code and user-facing message.
#define EXPECT_ERROR(reply, errc, text)                           \
    do {                                                          \
        auto&& r_ = (reply);                                      \
        ASSERT_FALSE(r_.ok()) << "expected: " << (text);          \
        EXPECT_EQ(r_.error().code, (errc)) << r_.error().message; \
        EXPECT_EQ(r_.error().message, (text));                    \
    } while (0)
