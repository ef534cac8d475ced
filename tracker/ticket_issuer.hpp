// TicketIssuer: hands out download tickets (shared/ticket.hpp) for get_file and get_peers. A
// signature costs tens of microseconds, and downloaders ask for peers every few seconds, so a
// ticket is reused for the same (user, group, file) while more than half its life is left.
// Owned by the Dispatcher; reactor thread only.
#pragma once

#include "shared/ticket.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace gs::tracker {

// How long a download ticket stays valid; clients fetch a fresh one well before that.
inline constexpr std::chrono::seconds kTicketLifetime{600};

struct IssuedTicket {
    std::string ticket;
    std::int64_t expires = 0;  // Unix seconds
};

class TicketIssuer {
public:
    static constexpr std::size_t kMaxCached = 100'000;  // memory bound; cleared when reached

    explicit TicketIssuer(TicketSigner signer) : signer_(std::move(signer)) {}

    IssuedTicket issue(const std::string& user, const std::string& group,
                       const Sha1Digest& info_hash, std::int64_t now);
    const std::string& public_key() const { return signer_.public_key(); }

private:
    TicketSigner signer_;
    std::unordered_map<std::string, IssuedTicket> cache_;  // user \0 group \0 hash -> ticket
};

}  // namespace gs::tracker
