// Download tickets: the tracker's signed statement that `user`, a member of `group`, may fetch
// the pieces of the file with `info_hash` until `expires` (Unix seconds). The tracker signs them
// with its Ed25519 key (libsodium crypto_sign); a seeder checks them with the tracker's public
// key before sending any data (docs/protocol.md §2.3, SECURITY.md). Pure values and functions,
// any thread.
//
// Wire form: bencode {"b": body, "s": 64-byte signature of body}, where body is bencode
// {"e": expires, "g": group, "h": 20-byte info hash, "k": the holder's 32-byte peer key (when
// its client gave one), "m": membership epoch, "u": user}.
//
// The peer key binds the ticket to its holder's sealed channel (docs/protocol.md §2.1): a seeder
// accepts it only over a channel whose other end proved that key in the handshake, so a ticket
// seen or copied elsewhere opens nothing.
//
// The membership epoch is the group's counter that the tracker moves on whenever someone stops
// being a member (leave_group, remove_member). A seeder remembers the highest epoch it has seen
// for each group and refuses tickets of that group with a lower one: once any member shows a
// ticket issued after a removal, every ticket issued before it is dead at that seeder, even
// before it expires.
#pragma once

#include "shared/result.hpp"
#include "shared/sha1.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gs {

struct Ticket {
    std::string user;
    std::string group;
    Sha1Digest info_hash{};
    std::int64_t expires = 0;  // Unix seconds
    std::int64_t epoch = 0;    // the group's membership epoch when the ticket was issued
    std::string peer_key;      // 32 raw bytes, or empty: the holder's sealed-channel key
};

inline constexpr std::size_t kTicketPublicKeyBytes = 32;  // crypto_sign_PUBLICKEYBYTES
inline constexpr std::size_t kPeerKeyBytes = 32;          // X25519 public key
inline constexpr std::size_t kMaxTicketBytes = 512;

class TicketSigner {
public:
    // Loads the secret key from `path`, or creates one there (mode 0600) on first start.
    static Result<TicketSigner> load_or_create(const std::string& path);
    // A throwaway key, for tests.
    static TicketSigner generate();
    // The key made from a 32-byte Ed25519 seed (kept in a database shared by several trackers).
    static Result<TicketSigner> from_seed(std::string_view seed);

    std::string sign(const Ticket& ticket) const;
    // The 32-byte Ed25519 public key that verifies this signer's tickets.
    const std::string& public_key() const { return public_key_; }

private:
    std::string secret_key_;  // 64 bytes (seed + public key), libsodium layout
    std::string public_key_;
};

// Checks the signature with `public_key`, then that the ticket is for `info_hash` and has not
// expired at `now` (Unix seconds). Denied with a reason otherwise.
Result<Ticket> verify_ticket(std::string_view ticket, std::string_view public_key,
                             const Sha1Digest& info_hash, std::int64_t now);

std::int64_t unix_now();

}  // namespace gs
