// Accounts and sessions: the rules around create_user, login, resume and logout.
#include "shared/ids.hpp"
#include "shared/sha1.hpp"
#include "shared/ticket.hpp"
#include "tracker/handlers/args.hpp"
#include "tracker/handlers/handlers.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sodium.h>

#include <charconv>

namespace gs::tracker {
namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenHashBytes = 32;  // BLAKE2b-256 (crypto_generichash)

constexpr std::string_view kUnknownSessionMessage =
    "your session has expired or is not known; use login <user_id> <passwd>";

std::string to_hex(const unsigned char* bytes, std::size_t size) {
    std::string out(size * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), bytes, size);
    out.pop_back();  // the terminating NUL
    return out;
}

std::string token_hash_hex(const unsigned char* token) {
    unsigned char hash[kTokenHashBytes];
    crypto_generichash(hash, sizeof hash, token, kTokenBytes, nullptr, 0);
    return to_hex(hash, sizeof hash);
}

Status check_listen_addr(std::string_view addr) {
    if (is_valid_listen_addr(addr)) return {};
    return make_error(Errc::BadInput,
                      fmt::format("invalid listen address '{}': use IP:PORT", printable(addr)));
}

// The address the tracker records and hands out for a client: the IP its connection comes
// from (`source`, the connection's "IP:PORT") with the port it announced (`announced`). The
// announced IP is checked but not believed, so nobody can point downloaders at someone else.
Result<std::string> seeder_addr(std::string_view source, std::string_view announced) {
    if (auto s = check_listen_addr(announced); !s) return s.error();
    const auto source_colon = source.rfind(':');
    if (source_colon == std::string_view::npos || !is_valid_listen_addr(source)) {
        return make_error(Errc::Internal, fmt::format("the connection's address '{}' is unusable",
                                                      printable(source)));
    }
    return fmt::format("{}:{}", source.substr(0, source_colon),
                       announced.substr(announced.rfind(':') + 1));
}

Error password_too_long_error() {
    return make_error(Errc::BadInput,
                      fmt::format("the password is longer than {} bytes", kMaxPasswordBytes));
}

}  // namespace

Error already_exists_user_error(std::string_view user_id) {
    return make_error(Errc::AlreadyExists, fmt::format("user '{}' already exists", user_id));
}

Error already_logged_in_error(std::string_view user_id) {
    return make_error(Errc::BadInput,
                      fmt::format("already logged in as {}; logout first", user_id));
}

Status check_user_id(std::string_view user_id) {
    if (!is_valid_id(user_id)) return invalid_id_error("user id", user_id);
    return {};
}

Status check_new_user(Store& store, std::string_view user_id, std::string_view password) {
    if (Status valid = check_user_id(user_id); !valid) return valid;
    if (password.empty()) return make_error(Errc::BadInput, "the password must not be empty");
    if (password.size() > kMaxPasswordBytes) {
        return password_too_long_error();
    }
    auto exists = store.user_exists(user_id);
    if (!exists) return exists.error();
    if (*exists) return already_exists_user_error(user_id);
    return {};
}

bool is_valid_listen_addr(std::string_view addr) {
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view host = addr.substr(0, colon);
    std::string_view port_text = addr.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || port_text[0] == '0' || ec != std::errc() ||
        end != port_text.data() + port_text.size() || port > 65535) {
        return false;
    }
    unsigned char buf[sizeof(in6_addr)];
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        std::string inner(host.substr(1, host.size() - 2));
        return inet_pton(AF_INET6, inner.c_str(), buf) == 1;
    }
    std::string v4(host);
    return inet_pton(AF_INET, v4.c_str(), buf) == 1;
}

Result<std::string> read_peer_key(const proto::Value& request) {
    auto hex = request.get_string("peer_key");
    if (!hex) return std::string();
    std::string key(kPeerKeyBytes, '\0');
    std::size_t decoded = 0;
    const char* end = nullptr;
    if (hex->size() != 2 * kPeerKeyBytes ||
        sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), hex->data(),
                       hex->size(), nullptr, &decoded, &end) != 0 ||
        decoded != kPeerKeyBytes) {
        return make_error(Errc::BadInput, "peer_key must be 64 hex digits");
    }
    return key;
}

Result<PendingLogin> take_login(LoginThrottle& throttle, const proto::Value& request,
                                const Session* current, LoginThrottle::Clock::time_point now) {
    auto user = request.get_string("user");
    auto password = request.get_string("password");
    auto listen = request.get_string("listen");
    if (!user || !password || !listen) {
        return make_error(Errc::BadInput,
                          "login needs a user id, a password and the client's listen address");
    }
    if (current != nullptr) {
        return already_logged_in_error(current->user_id);
    }
    // The cap create_user sets: no longer password is ever right, and none is hashed.
    if (password->size() > kMaxPasswordBytes) {
        return password_too_long_error();
    }
    auto peer_key = read_peer_key(request);
    if (!peer_key) return peer_key.error();
    PendingLogin login{
        std::string(*user), std::string(*password), std::string(*listen), {}, std::move(*peer_key)};
    // Not a name any user can have; also keeps the throttle's keys short.
    if (Status valid = check_user_id(login.user_id); !valid) return valid.error();
    auto wait = throttle.wait_before_attempt(login.user_id, now);
    if (wait > LoginThrottle::Clock::duration::zero()) {
        auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
        return make_error(
            Errc::Throttled,
            fmt::format("too many failed logins for '{}'; try again in {} s", login.user_id, secs));
    }
    throttle.on_attempt(login.user_id, now);
    return login;
}

Status look_up_login(Store& store, PendingLogin& login) {
    auto creds = store.password_hash_of(login.user_id);
    if (!creds) return creds.error();
    login.found = std::move(*creds);
    return {};
}

Result<PendingLogin> begin_login(Store& store, LoginThrottle& throttle, const proto::Value& request,
                                 const Session* current, LoginThrottle::Clock::time_point now) {
    auto login = take_login(throttle, request, current, now);
    if (!login) return login.error();
    if (Status found = look_up_login(store, *login); !found) return found.error();
    return login;
}

Result<Session> settle_login(LoginThrottle& throttle, const PendingLogin& login, bool verified,
                             std::string_view source, LoginThrottle::Clock::time_point now) {
    if (!verified || !login.found) {
        throttle.on_failure(login.user_id, now);
        return make_error(Errc::AuthFailed, "wrong user id or password");
    }
    throttle.on_success(login.user_id);
    auto addr = seeder_addr(source, login.listen_addr);
    if (!addr) return addr.error();
    return Session{login.found->user_pk, login.found->user_id, std::move(*addr), "",
                   login.peer_key};
}

Result<LoggedIn> finish_login(Store& store, LoginThrottle& throttle, const PendingLogin& login,
                              bool verified, std::string_view source,
                              LoginThrottle::Clock::time_point now, TimePoint wall_now) {
    auto session = settle_login(throttle, login, verified, source, now);
    if (!session) return session.error();
    LoggedIn out{std::move(*session), ""};
    auto token = open_session(store, out.session, wall_now);
    if (!token) return token.error();
    out.token = std::move(*token);
    return out;
}

Result<std::string> open_session(Store& store, Session& session, TimePoint now) {
    if (auto s = check_listen_addr(session.listen_addr); !s) return s.error();
    if (sodium_init() < 0) return make_error(Errc::Internal, "the tracker cannot make tokens");
    if (auto s = store.delete_expired_sessions(now); !s) return s.error();
    unsigned char token[kTokenBytes];
    randombytes_buf(token, sizeof token);
    std::string hash = token_hash_hex(token);
    if (auto s = store.create_session(hash, session.user_pk, now, now + kSessionLifetime); !s) {
        return s.error();
    }
    session.token_hash = std::move(hash);
    std::string hex = to_hex(token, sizeof token);
    sodium_memzero(token, sizeof token);
    return hex;
}

Result<Session> resume_session(Store& store, std::string_view token_hex,
                               std::string_view listen_addr, std::string_view source,
                               TimePoint now) {
    auto addr = seeder_addr(source, listen_addr);
    if (!addr) return addr.error();
    unsigned char token[kTokenBytes];
    std::size_t decoded = 0;
    const char* hex_end = nullptr;
    if (token_hex.size() != kTokenBytes * 2 ||
        sodium_hex2bin(token, sizeof token, token_hex.data(), token_hex.size(), nullptr, &decoded,
                       &hex_end) != 0 ||
        decoded != kTokenBytes) {
        return make_error(Errc::AuthFailed, std::string(kUnknownSessionMessage));
    }
    std::string hash = token_hash_hex(token);
    sodium_memzero(token, sizeof token);
    auto user = store.user_of_session(hash, now);
    if (!user) return user.error();
    if (!*user) return make_error(Errc::AuthFailed, std::string(kUnknownSessionMessage));
    // A client that keeps coming back stays logged in; one away for kSessionLifetime does not.
    if (auto s = store.renew_session(hash, now + kSessionLifetime); !s) return s.error();
    return Session{(*user)->pk, (*user)->user_id, std::move(*addr), std::move(hash)};
}

Status check_session_live(const Context& ctx) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    if (!(*session)->token_hash.empty()) {
        auto user = ctx.store.user_of_session((*session)->token_hash, ctx.now);
        if (!user) return user.error();
        if (*user && (*user)->pk == (*session)->user_pk) return {};
    }
    return make_error(Errc::NotLoggedIn, std::string(kNotLoggedInMessage));
}

bool logout_everywhere(const proto::Value& request) {
    return request.get_int("everywhere").value_or(0) == 1;
}

Reply handle_logout(const Context& ctx, const proto::Value& request) {
    auto session = require_session(ctx);
    if (!session) return session.error();
    if (auto flag = request.get_int("everywhere"); flag && *flag != 0 && *flag != 1) {
        return make_error(Errc::BadInput, "logout: 'everywhere' must be 0 or 1");
    }
    if (logout_everywhere(request)) {
        // Every session of the user, on every tracker sharing this database: a leaked token
        // stops working at its next request (the Dispatcher closes this tracker's connections).
        auto ended = ctx.store.delete_sessions_of_user((*session)->user_pk);
        if (!ended) return ended.error();
        return proto::Dict{{"sessions", static_cast<std::int64_t>(*ended)}};
    }
    if (!(*session)->token_hash.empty()) {
        if (auto s = ctx.store.delete_session((*session)->token_hash); !s) return s.error();
    }
    return proto::Dict{};
}

}  // namespace gs::tracker
