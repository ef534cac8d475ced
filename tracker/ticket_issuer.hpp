// TicketIssuer: hands out download tickets (shared/ticket.hpp) for get_file and get_peers. A
// signature costs tens of microseconds, and downloaders ask for peers every few seconds, so a
// ticket is reused for the same (user, group, membership epoch, file) while more than half its
// life is left. Owned by the Dispatcher; issue() may be called from the StoreRunner's workers
// (handlers run there), so the cache is behind a mutex.
#pragma once

#include "shared/ticket.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gs::tracker {

// How long a download ticket stays valid. Short on purpose: it bounds how long a member who
// leaves or is removed can still fetch pieces with a ticket already held (SECURITY.md).
// Downloaders ask get_peers every few seconds and so always hold a fresh one.
inline constexpr std::chrono::seconds kTicketLifetime{30};

struct IssuedTicket {
    std::string ticket;
    std::int64_t expires = 0;  // Unix seconds
};

class TicketIssuer {
public:
    static constexpr std::size_t kMaxCached = 100'000;  // memory bound; cleared when reached

    // `lifetime`: kTicketLifetime, shorter in tests (tracker --ticket-lifetime).
    explicit TicketIssuer(TicketSigner signer, std::chrono::seconds lifetime = kTicketLifetime)
        : signer_(std::move(signer)), lifetime_(lifetime) {}

    // A ticket for `user` in `group` at the group's membership epoch `epoch`, bound to the
    // user's client's `peer_key` (raw, may be empty).
    IssuedTicket issue(const std::string& user, const std::string& group,
                       const Sha1Digest& info_hash, std::int64_t epoch, std::int64_t now,
                       const std::string& peer_key = {});
    const std::string& public_key() const { return signer_.public_key(); }
    std::chrono::seconds lifetime() const { return lifetime_; }

private:
    TicketSigner signer_;
    std::chrono::seconds lifetime_;
    std::mutex mutex_;  // guards cache_
    // user \0 group \0 epoch \0 hash \0 peer key -> ticket: a new epoch never reuses an older
    // ticket, nor a new client key one bound to the old key.
    std::unordered_map<std::string, IssuedTicket> cache_;
};

}  // namespace gs::tracker
