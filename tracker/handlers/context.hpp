// What a request handler sees: the caller's session (if logged in), the store and the time.
// Built by the Dispatcher for each request from copies, so the handler may run on a StoreRunner
// worker: nothing in it is the reactor's (the TicketIssuer is thread-safe). Who is online comes
// from the Store (Seeder::online).
#pragma once

#include "tracker/handlers/file_limits.hpp"
#include "tracker/ticket_issuer.hpp"

#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace gs::tracker {

class Store;

// A logged-in caller. `listen_addr` is the "IP:PORT" its client serves pieces on; `peer_key`
// the public key of its sealed peer channel (32 raw bytes, empty if it gave none), named in the
// tickets it gets and handed to downloaders with its address.
struct Session {
    std::int64_t user_pk = 0;
    std::string user_id;
    std::string listen_addr;
    std::string token_hash;  // hex hash of the session token (never the token itself)
    std::string peer_key;
};

// Per-account quotas and listing pages (SECURITY.md, Limits). Tests shorten them.
struct GroupLimits {
    std::int64_t groups_owned = 100;      // groups one account owns
    std::int64_t pending_requests = 100;  // join requests one account has waiting
    // A listing reply (list_groups, list_files, list_requests) holds at most this many items
    // and this many encoded bytes of them, far below the 4 MiB frame limit; the client asks
    // for the next page with "after" (docs/protocol.md §1.3, paging).
    std::size_t page_items = 500;
    std::size_t page_bytes = 1024 * 1024;
};

struct Context {
    const Session* session = nullptr;  // null when not logged in
    Store& store;
    std::chrono::system_clock::time_point now;
    // Issues download tickets (get_file, get_peers); null: none are issued (some unit tests).
    TicketIssuer* tickets = nullptr;
    FileLimits file_limits{};  // files, seeder addresses and proofs per account
    GroupLimits limits{};
};

// A handler's answer: the fields of a successful reply (docs/protocol.md), or an Error whose
// message is shown to the user after "error: ".
using Reply = Result<proto::Dict>;

}  // namespace gs::tracker
