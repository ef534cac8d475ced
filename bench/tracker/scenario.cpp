#include "bench/tracker/scenario.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

#include "shared/proto/bencode.hpp"
#include "shared/proto/frame.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/sha1.hpp"

namespace gs::bench {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPassword = "loadgen-password";
constexpr std::chrono::milliseconds kConnectTimeout = 5s;

// The "IP:PORT" a client says it serves pieces on. Nothing listens there: the tracker only
// stores and returns it. Each kind of client gets its own 127.x network so that every
// connection has a distinct address whatever the counts.
std::string client_ip(int network, int index) {
    return fmt::format("127.{}.{}.{}", network, index / 250, index % 250 + 1);
}
std::string listen_addr(int network, int index) {
    return client_ip(network, index) + ":6881";
}
constexpr int kSeederNetwork = 1;
constexpr int kDownloaderNetwork = 2;
constexpr int kLoadNetwork = 3;

// A valid info dictionary (BEP 3, docs/protocol.md §1.3) for a file of `mib` MiB in
// kPieceLengthBytes pieces. The tracker checks its shape, not its content, so the piece hashes
// are SHA1s of `salt` and the piece numbers rather than of a generated file; a new salt makes a
// new info hash (on a reused database, one already shared in another group would be challenged
// for a piece).
Result<std::string> make_info_dict(const std::string& name, std::int64_t mib,
                                   const std::string& salt) {
    const std::int64_t length = mib * 1024 * 1024;
    const std::int64_t count = proto::piece_count_for(length, proto::kPieceLengthBytes);
    std::string pieces;
    pieces.reserve(static_cast<std::size_t>(count) * proto::kPieceHashBytes);
    for (std::int64_t i = 0; i < count; ++i) {
        pieces += digest_bytes(sha1(fmt::format("groupshare loadgen {} piece {}", salt, i)));
    }
    std::string info = proto::encode(proto::Dict{{"length", length},
                                                 {"name", name},
                                                 {"piece length", proto::kPieceLengthBytes},
                                                 {"pieces", std::move(pieces)},
                                                 {"private", 1}});
    if (auto parsed = proto::parse_info(info); !parsed) return parsed.error();
    return info;
}

// One set-up request; an error says which step failed.
Result<proto::Value> step(SetupClient& client, std::string_view what, proto::Dict request) {
    auto reply = client.call(std::move(request));
    if (!reply) {
        return make_error(reply.error().code,
                          fmt::format("set-up step {}: {}", what, reply.error().message));
    }
    return reply;
}

Result<SetupClient> connect(const net::Endpoint& tracker, const TlsClient* tls,
                            const net::Endpoint* from = nullptr) {
    return SetupClient::connect(tracker, tls, kConnectTimeout, from);
}

// A set-up client that connects from the IP of its listen_addr when the tracker is on loopback
// (where every 127.x.y.z is ours): the tracker records the IP a connection comes from with the
// port it is told, so only then is each seeder a peer of its own.
Result<SetupClient> connect_as(const net::Endpoint& tracker, const TlsClient* tls, int network,
                               int index) {
    if (tracker.host.rfind("127.", 0) != 0) return connect(tracker, tls);
    const net::Endpoint from{client_ip(network, index), 0};
    return connect(tracker, tls, &from);
}

// A new account `user` (password kPassword), logged in on `client`; its session token.
Result<std::string> sign_up(SetupClient& client, const std::string& user,
                            const std::string& listen) {
    if (auto r = step(client, "create_user",
                      {{"op", "create_user"}, {"user", user}, {"password", kPassword}});
        !r) {
        return r.error();
    }
    auto login =
        step(client, "login",
             {{"op", "login"}, {"user", user}, {"password", kPassword}, {"listen", listen}});
    if (!login) return login.error();
    return std::string(login->get_string("token").value_or(""));
}

// The session `token` resumed on `client`, which serves pieces on `listen`.
Status resume(SetupClient& client, const std::string& token, const std::string& listen) {
    auto r = step(client, "resume", {{"op", "resume"}, {"token", token}, {"listen", listen}});
    if (!r) return r.error();
    return {};
}

}  // namespace

Result<Scenario> set_up_scenario(const net::Endpoint& tracker, const TlsClient* tls, int seeders,
                                 std::int64_t file_mib) {
    Scenario s;
    const std::string prefix = fmt::format("lg{}", ::getpid());  // fresh names on a reused db
    const std::string seed_user = prefix + "-seed";
    const std::string fetch_user = prefix + "-fetch";
    s.group = prefix;
    s.file_name = fmt::format("loadgen-{}MiB.bin", file_mib);
    auto info = make_info_dict(s.file_name, file_mib, prefix);
    if (!info) return info.error();

    auto owner = connect_as(tracker, tls, kSeederNetwork, 0);
    if (!owner) return owner.error();
    auto seed_token = sign_up(*owner, seed_user, listen_addr(kSeederNetwork, 0));
    if (!seed_token) return seed_token.error();
    if (auto r = step(*owner, "create_group", {{"op", "create_group"}, {"group", s.group}}); !r) {
        return r.error();
    }
    auto uploaded =
        step(*owner, "upload_file", {{"op", "upload_file"}, {"group", s.group}, {"info", *info}});
    if (!uploaded) return uploaded.error();
    const std::string info_hash(uploaded->get_string("info_hash").value_or(""));
    s.info_hash = info_hash;
    for (int i = 1; i < seeders; ++i) {
        auto c = connect_as(tracker, tls, kSeederNetwork, i);
        if (!c) return c.error();
        if (auto r = resume(*c, *seed_token, listen_addr(kSeederNetwork, i)); !r) {
            return r.error();
        }
        if (auto r = step(*c, "add_seeder",
                          {{"op", "add_seeder"}, {"group", s.group}, {"info_hash", info_hash}});
            !r) {
            return r.error();
        }
        s.seeder_clients.push_back(std::move(c).value());
    }

    auto fetch = connect_as(tracker, tls, kDownloaderNetwork, 0);
    if (!fetch) return fetch.error();
    auto fetch_token = sign_up(*fetch, fetch_user, listen_addr(kDownloaderNetwork, 0));
    if (!fetch_token) return fetch_token.error();
    s.downloader_token = std::move(fetch_token).value();
    if (auto r = step(*fetch, "join_group", {{"op", "join_group"}, {"group", s.group}}); !r) {
        return r.error();
    }
    if (auto r = step(*owner, "accept_request",
                      {{"op", "accept_request"}, {"group", s.group}, {"user", fetch_user}});
        !r) {
        return r.error();
    }

    auto reply =
        step(*fetch, "get_file", {{"op", "get_file"}, {"group", s.group}, {"name", s.file_name}});
    if (!reply) return reply.error();
    const proto::List* peers = reply->get_list("peers");
    s.peers = peers != nullptr ? peers->size() : 0;
    if (s.peers != static_cast<std::size_t>(seeders) || reply->get_string("info") != *info) {
        return make_error(Errc::Protocol,
                          fmt::format("get_file answered {} peers (expected {}) or another info "
                                      "dictionary",
                                      s.peers, seeders));
    }
    // What a downloader asks again and again once it has the info dictionary: get_peers.
    auto peers_reply = step(*fetch, "get_peers",
                            {{"op", "get_peers"}, {"group", s.group}, {"info_hash", s.info_hash}});
    if (!peers_reply) return peers_reply.error();
    const proto::List* again = peers_reply->get_list("peers");
    if (again == nullptr || again->size() != s.peers) {
        return make_error(Errc::Protocol, "get_peers and get_file disagree about the peers");
    }
    s.reply_bytes = proto::kFrameHeaderBytes + proto::encode(*peers_reply).size();
    s.seeder_clients.push_back(std::move(owner).value());
    s.downloader = std::move(fetch).value();
    return s;
}

Result<std::vector<Link>> open_load_connections(const net::Endpoint& tracker, const TlsClient* tls,
                                                const Scenario& scenario, int count) {
    std::vector<Link> links;
    links.reserve(static_cast<std::size_t>(count));
    // The tracker takes at most 256 connections per address (tracker/server.hpp): on loopback,
    // where every 127.x.y.z is ours, the load comes from 128 per source address, as it would
    // from many hosts.
    const bool loopback = tracker.host.rfind("127.", 0) == 0;
    for (int i = 0; i < count; ++i) {
        net::Endpoint source{fmt::format("127.2.{}.{}", 1 + i / (128 * 250), 1 + (i / 128) % 250),
                             0};
        auto c = connect(tracker, tls, loopback ? &source : nullptr);
        if (!c) return c.error();
        if (auto r = resume(*c, scenario.downloader_token, listen_addr(kLoadNetwork, i)); !r) {
            return r.error();
        }
        links.push_back(std::move(c).value().release_link());
    }
    return links;
}

}  // namespace gs::bench
