// Request handlers: the tracker's rules (who may do what to groups, requests and files), as plain
// functions of (Context, request) -> Reply. The Dispatcher routes to them through route_table();
// they talk only to the Store. They run wherever the Dispatcher's StoreRunner runs them (the
// reactor thread, or a worker with its own Store); unit-tested without a network.
//
// create_user, login and resume need the password hasher, so the Dispatcher runs them itself
// (their routes name an AccountOp instead of a handler) and calls the helpers below
// (check_new_user, take_login/look_up_login, settle_login/open_session, resume_session) for the
// rules.
#pragma once

#include "shared/proto/bencode.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/result.hpp"
#include "tracker/handlers/context.hpp"
#include "tracker/login_throttle.hpp"
#include "tracker/store.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gs::tracker {

// How long a login token stays valid (docs/protocol.md §1.3, resume).
inline constexpr std::chrono::hours kSessionLifetime{24 * 7};
inline constexpr std::size_t kMaxPasswordBytes = 1024;
// Private BitTorrent v1 piece sizes we accept (BEP 3): powers of two in this range.
inline constexpr std::int64_t kMinPieceLength = proto::kMinPieceLengthBytes;
inline constexpr std::int64_t kMaxPieceLength = proto::kMaxPieceLengthBytes;

inline constexpr std::string_view kNotLoggedInMessage =
    "you are not logged in; use login <user_id> <passwd> first";

using HandlerFn = Reply (*)(const Context& ctx, const proto::Value& request);

// The ops the Dispatcher runs itself, around the password hasher and the connection's session.
enum class AccountOp { None, CreateUser, Login, Resume };

// One op of the protocol: its handler or account op, and what the Dispatcher does around it.
struct Route {
    HandlerFn fn = nullptr;  // null for an account op
    AccountOp account = AccountOp::None;
    // Refused with kNotLoggedInMessage on a connection that has not logged in.
    bool needs_login = true;
    // Hands out tickets or registers a seeder: runs only while the caller's session is still in
    // the Store (check_session_live); a session ended elsewhere is unbound from the connection.
    bool needs_live_session = false;
    // Ends the caller's session (logout): on success the Dispatcher unbinds it and closes the
    // other connections of that session (with logout_everywhere, of that user).
    bool ends_session = false;
};

// Every op of the protocol (docs/protocol.md §1.3), by name.
const std::map<std::string_view, Route>& route_table();

// docs/protocol.md §1.3. Each checks login itself too, so it is safe to call directly.
Reply handle_logout(const Context& ctx, const proto::Value& request);
Reply handle_create_group(const Context& ctx, const proto::Value& request);
Reply handle_join_group(const Context& ctx, const proto::Value& request);
Reply handle_leave_group(const Context& ctx, const proto::Value& request);
Reply handle_list_requests(const Context& ctx, const proto::Value& request);
Reply handle_accept_request(const Context& ctx, const proto::Value& request);
Reply handle_reject_request(const Context& ctx, const proto::Value& request);
Reply handle_list_groups(const Context& ctx, const proto::Value& request);
Reply handle_remove_member(const Context& ctx, const proto::Value& request);
Reply handle_upload_file(const Context& ctx, const proto::Value& request);
Reply handle_list_files(const Context& ctx, const proto::Value& request);
Reply handle_stop_share(const Context& ctx, const proto::Value& request);
Reply handle_get_file(const Context& ctx, const proto::Value& request);
Reply handle_get_peers(const Context& ctx, const proto::Value& request);
Reply handle_add_seeder(const Context& ctx, const proto::Value& request);
Reply handle_remove_file(const Context& ctx, const proto::Value& request);

// ---- Accounts (run by the Dispatcher around the password hasher) ----

// Before hashing: the id is valid, the password is 1..kMaxPasswordBytes, and the user does not
// exist yet. The Dispatcher must still handle Store::create_user returning false (another
// create_user for the same id may finish while this one hashes): reply
// already_exists_user_error(user_id).
Status check_new_user(Store& store, std::string_view user_id, std::string_view password);
// Before a login is checked: `user_id` is a valid id (else the error create_user gives).
Status check_user_id(std::string_view user_id);
Error already_exists_user_error(std::string_view user_id);
// A login on a connection logged in already (as `user_id`).
Error already_logged_in_error(std::string_view user_id);

// The caller's session is still in the Store (not logged out elsewhere, not expired):
// Errc::NotLoggedIn with kNotLoggedInMessage otherwise.
Status check_session_live(const Context& ctx);
// Whether a logout request asks to end every session of the user (`everywhere: 1`).
bool logout_everywhere(const proto::Value& request);

// "IP:PORT" with an IPv4 address or a bracketed IPv6 one, port 1-65535.
bool is_valid_listen_addr(std::string_view addr);

// A login whose password is being checked (by the PasswordHasher).
struct PendingLogin {
    std::string user_id;
    std::string password;
    std::string listen_addr;
    // Empty for a user that does not exist: the check still runs, against a dummy hash, so the
    // answer takes as long and says the same.
    std::optional<Credentials> found;
    std::string peer_key;  // raw, from the optional "peer_key" (read_peer_key)
};

// The optional "peer_key" of a login or resume: the client's sealed-channel public key as 64 hex
// digits. Returns the 32 raw bytes, or "" when absent; BadInput when malformed.
Result<std::string> read_peer_key(const proto::Value& request);

// Everything a login is checked for before its password: its arguments, that the connection is
// not logged in already (`current`), a valid user id, and the throttle; counts the attempt with
// the throttle (LoginThrottle::on_attempt) when it returns the login. No Store: the Dispatcher
// calls it on the reactor thread (the throttle is the reactor's) and look_up_login through its
// StoreRunner.
Result<PendingLogin> take_login(LoginThrottle& throttle, const proto::Value& request,
                                const Session* current, LoginThrottle::Clock::time_point now);
// Fills `login.found` with the user's credentials (none for a user that does not exist).
Status look_up_login(Store& store, PendingLogin& login);
// take_login, then look_up_login.
Result<PendingLogin> begin_login(Store& store, LoginThrottle& throttle, const proto::Value& request,
                                 const Session* current, LoginThrottle::Clock::time_point now);

struct LoggedIn {
    Session session;
    std::string token;  // for the reply, 64 hex digits
};

// After the password check: `verified` is whether the password matched the user's hash (false
// for a user that does not exist). Tells the throttle; a good login gets its Session (without
// a token yet), a bad one Errc::AuthFailed. `source` is the connection's "IP:PORT": the
// session's listen address is its IP with the port the login announced (the announced IP is
// not believed; SECURITY.md). No Store, as take_login.
Result<Session> settle_login(LoginThrottle& throttle, const PendingLogin& login, bool verified,
                             std::string_view source, LoginThrottle::Clock::time_point now);
// settle_login, then open_session for a good login.
Result<LoggedIn> finish_login(Store& store, LoginThrottle& throttle, const PendingLogin& login,
                              bool verified, std::string_view source,
                              LoginThrottle::Clock::time_point now, TimePoint wall_now);

// After a verified login: makes a random 32-byte token, stores only its hash (expiring after
// kSessionLifetime), sets `session.token_hash`, and returns the token as 64 hex digits for the
// reply. Also drops expired sessions. Checks `session.listen_addr`.
Result<std::string> open_session(Store& store, Session& session, TimePoint now);

// The session a `resume` token names; its new address is the IP of `source` (the connection's
// "IP:PORT") with the port of `listen_addr`, as for finish_login. Its expiry moves to
// kSessionLifetime from `now`. An unknown, expired or malformed token gives Errc::AuthFailed.
Result<Session> resume_session(Store& store, std::string_view token_hex,
                               std::string_view listen_addr, std::string_view source,
                               TimePoint now);

}  // namespace gs::tracker
