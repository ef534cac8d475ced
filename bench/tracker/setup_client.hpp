// SetupClient: one framed connection to a groupshare tracker (docs/protocol.md §1.1) used
// request-by-request while the load generator prepares its scenario (users, group, file, seeders)
// and resumes its load connections. Calls wait for their reply with poll(): this is a benchmark
// driver, not a reactor, and nothing else runs while it sets up. Main thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "bench/tracker/link.hpp"
#include "shared/net/socket.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"

namespace gs::bench {

class SetupClient {
public:
    // Connects (non-blocking socket, waited for with poll) within `timeout`, from `from` when
    // given; with `tls`, also completes the TLS handshake and checks the tracker's certificate.
    static Result<SetupClient> connect(const net::Endpoint& tracker, const TlsClient* tls,
                                       std::chrono::milliseconds timeout,
                                       const net::Endpoint* from = nullptr);

    // Sends `request` with the next seq and waits up to `timeout` for the reply with that seq.
    // An "ok": 0 reply becomes an Error carrying the tracker's code and message.
    Result<proto::Value> call(proto::Dict request,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // Hands the link over (the load loop takes it once the connection is resumed). Valid only
    // between calls, when no reply bytes are buffered here.
    Link release_link() && { return std::move(link_); }

private:
    explicit SetupClient(Link link) : link_(std::move(link)) {}

    Status send_all(const std::string& bytes, std::chrono::steady_clock::time_point deadline);
    Result<std::string> read_frame(std::chrono::steady_clock::time_point deadline);

    Link link_;
    std::int64_t next_seq_ = 1;
    std::string in_;
};

}  // namespace gs::bench
