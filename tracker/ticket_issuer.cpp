#include "tracker/ticket_issuer.hpp"

namespace gs::tracker {

IssuedTicket TicketIssuer::issue(const std::string& user, const std::string& group,
                                 const Sha1Digest& info_hash, std::int64_t epoch, std::int64_t now,
                                 const std::string& peer_key) {
    std::string key = user;
    key.push_back('\0');
    key += group;
    key.push_back('\0');
    key += std::to_string(epoch);
    key.push_back('\0');
    key += digest_bytes(info_hash);
    key.push_back('\0');
    key += peer_key;
    const std::int64_t lifetime = lifetime_.count();
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end() && it->second.expires - now > lifetime / 2) {
        return it->second;
    }
    if (cache_.size() >= kMaxCached) cache_.clear();
    IssuedTicket fresh{
        signer_.sign(Ticket{user, group, info_hash, now + lifetime, epoch, peer_key}),
        now + lifetime};
    cache_[std::move(key)] = fresh;
    return fresh;
}

}  // namespace gs::tracker
