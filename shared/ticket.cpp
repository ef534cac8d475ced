#include "shared/ticket.hpp"

#include "shared/proto/bencode.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace gs {

namespace {

static_assert(kTicketPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);

Error denied(std::string why) {
    return make_error(Errc::Denied, "ticket refused: " + why);
}

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TicketSigner TicketSigner::generate() {
    TicketSigner s;
    s.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
    s.secret_key_.resize(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(s.public_key_.data()),
                        reinterpret_cast<unsigned char*>(s.secret_key_.data()));
    return s;
}

Result<TicketSigner> TicketSigner::from_seed(std::string_view seed) {
    if (seed.size() != crypto_sign_SEEDBYTES) {
        return make_error(Errc::Internal, fmt::format("a ticket key seed has {} bytes, not {}",
                                                      seed.size(), crypto_sign_SEEDBYTES));
    }
    TicketSigner s;
    s.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
    s.secret_key_.resize(crypto_sign_SECRETKEYBYTES);
    crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(s.public_key_.data()),
                             reinterpret_cast<unsigned char*>(s.secret_key_.data()), bytes(seed));
    return s;
}

Result<TicketSigner> TicketSigner::load_or_create(const std::string& path) {
    auto io = [&](std::string_view what) {
        return make_error(
            Errc::Io, fmt::format("cannot {} ticket key {}: {}", what, path, std::strerror(errno)));
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) return io("read");
    if (fd >= 0) {
        std::string secret(crypto_sign_SECRETKEYBYTES + 1, '\0');
        ssize_t n = ::read(fd, secret.data(), secret.size());
        ::close(fd);
        if (n != static_cast<ssize_t>(crypto_sign_SECRETKEYBYTES)) {
            return make_error(Errc::Io, fmt::format("ticket key {} is damaged ({} bytes); move it "
                                                    "away to make a new one",
                                                    path, n));
        }
        secret.resize(crypto_sign_SECRETKEYBYTES);
        TicketSigner s;
        s.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
        crypto_sign_ed25519_sk_to_pk(reinterpret_cast<unsigned char*>(s.public_key_.data()),
                                     bytes(secret));
        s.secret_key_ = std::move(secret);
        return s;
    }
    TicketSigner s = generate();
    const std::string tmp = path + ".tmp";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return io("create");
    bool ok = ::write(fd, s.secret_key_.data(), s.secret_key_.size()) ==
                  static_cast<ssize_t>(s.secret_key_.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return io("write");
    return s;
}

std::string TicketSigner::sign(const Ticket& t) const {
    proto::Dict fields{{"e", t.expires},
                       {"g", t.group},
                       {"h", digest_bytes(t.info_hash)},
                       {"m", t.epoch},
                       {"u", t.user}};
    if (!t.peer_key.empty()) fields["k"] = t.peer_key;
    std::string body = proto::encode(std::move(fields));
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, bytes(body),
                         body.size(), bytes(secret_key_));
    return proto::encode(proto::Dict{{"b", std::move(body)}, {"s", std::move(sig)}});
}

Result<Ticket> verify_ticket(std::string_view ticket, std::string_view public_key,
                             const Sha1Digest& info_hash, std::int64_t now) {
    if (public_key.size() != crypto_sign_PUBLICKEYBYTES)
        return denied("no tracker key to check it");
    if (ticket.empty()) return denied("none presented");
    if (ticket.size() > kMaxTicketBytes) return denied("too long");
    const proto::DecodeLimits limits{.max_depth = 2, .max_items = 12};
    auto outer = proto::decode(ticket, limits);
    if (!outer || !outer->is_dict()) return denied("malformed");
    auto body = outer->get_string("b");
    auto sig = outer->get_string("s");
    if (!body || !sig || sig->size() != crypto_sign_BYTES) return denied("malformed");
    if (crypto_sign_verify_detached(bytes(*sig), bytes(*body), body->size(), bytes(public_key)) !=
        0) {
        return denied("bad signature");
    }
    auto fields = proto::decode(*body, limits);
    if (!fields || !fields->is_dict()) return denied("malformed body");
    auto e = fields->get_int("e");
    auto g = fields->get_string("g");
    auto h = fields->get_string("h");
    auto m = fields->get_int("m");
    auto u = fields->get_string("u");
    auto k = fields->get_string("k");
    if (!e || !g || !h || !m || !u || *m < 0) return denied("malformed body");
    if (k && k->size() != kPeerKeyBytes) return denied("malformed peer key");
    auto hash = digest_from_bytes(*h);
    if (!hash) return denied("malformed info hash");
    if (*hash != info_hash) return denied("for another file");
    if (*e <= now) return denied("expired");
    return Ticket{std::string(*u), std::string(*g), *hash, *e, *m, k ? std::string(*k) : ""};
}

}  // namespace gs
