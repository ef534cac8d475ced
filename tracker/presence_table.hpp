// PresenceTable: who is connected and logged in right now, in memory: connection -> (user,
// listen address), and for each (user, address) pair how many connections it has and the peer
// key (sealed channel) the latest of them gave. A seeder counts as online while its pair has at
// least one. SqliteStore keeps one (one tracker per database); the
// stores of one StoreRunner pool share one, so each of its threads sees every connection.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace gs::tracker {

class PresenceTable {
public:
    // `conn` is online as `user_pk` listening on `listen_addr`, instead of what it was before.
    void set_online(std::uint64_t conn, std::int64_t user_pk, std::string_view listen_addr,
                    std::string_view peer_key = {}) {
        std::lock_guard lock(mutex_);
        drop(conn);
        Key key{user_pk, std::string(listen_addr)};
        Pair& pair = pairs_[key];
        ++pair.connections;
        pair.peer_key = peer_key;
        by_conn_.emplace(conn, std::move(key));
    }

    void set_offline(std::uint64_t conn) {
        std::lock_guard lock(mutex_);
        drop(conn);
    }

    bool is_online(std::int64_t user_pk, const std::string& listen_addr) const {
        std::lock_guard lock(mutex_);
        return pairs_.count(Key{user_pk, listen_addr}) > 0;
    }

    // The peer key of that pair's latest connection; "" when offline or none was given.
    std::string peer_key_of(std::int64_t user_pk, const std::string& listen_addr) const {
        std::lock_guard lock(mutex_);
        auto it = pairs_.find(Key{user_pk, listen_addr});
        return it == pairs_.end() ? std::string() : it->second.peer_key;
    }

private:
    using Key = std::pair<std::int64_t, std::string>;
    struct Pair {
        std::size_t connections = 0;
        std::string peer_key;
    };

    void drop(std::uint64_t conn) {
        auto it = by_conn_.find(conn);
        if (it == by_conn_.end()) return;
        auto n = pairs_.find(it->second);
        if (n != pairs_.end() && --n->second.connections == 0) pairs_.erase(n);
        by_conn_.erase(it);
    }

    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, Key> by_conn_;
    std::map<Key, Pair> pairs_;
};

}  // namespace gs::tracker
