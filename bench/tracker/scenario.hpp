// The scenario the tracker load generator runs against, set up through ordinary requests
// (docs/protocol.md §1.3): a group owned by a seeding user whose `seeders` online clients all seed
// one file, and a second member, the downloader, whose session the load connections resume.
// Main thread, before the load starts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/tracker/link.hpp"
#include "bench/tracker/setup_client.hpp"
#include "shared/net/socket.hpp"
#include "shared/result.hpp"

namespace gs::bench {

struct Scenario {
    std::string group;
    std::string file_name;
    std::string info_hash;  // 40 hex digits
    std::string downloader_token;
    // Held open for the whole run: a seeder is online only while its connection is.
    std::vector<SetupClient> seeder_clients;
    std::optional<SetupClient> downloader;
    std::size_t reply_bytes = 0;  // one get_peers reply frame, as the set-up saw it
    std::size_t peers = 0;        // peers in that reply
};

// Two argon2id logins in all (the seeding owner and the downloader); every other connection
// resumes one of those two sessions. The info dictionary describes a file of `file_mib` MiB in
// 512 KiB pieces. Checks that get_file and get_peers then list exactly `seeders` peers. `tls`
// (null: plain frames) must outlive the scenario and every link made with it.
Result<Scenario> set_up_scenario(const net::Endpoint& tracker, const TlsClient* tls, int seeders,
                                 std::int64_t file_mib);

// `count` connections, each resumed with the downloader's session and its own listen address.
Result<std::vector<Link>> open_load_connections(const net::Endpoint& tracker, const TlsClient* tls,
                                                const Scenario& scenario, int count);

}  // namespace gs::bench
