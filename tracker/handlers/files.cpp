// Files: upload (share), list, get (with online peers), stop sharing, add a seeder, and the
// owner's remove_file. Members only. docs/protocol.md §1.3.
#include "shared/ids.hpp"
#include "tracker/handlers/args.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/handlers/info_dict.hpp"
#include "tracker/handlers/paging.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string_view>

namespace gs::tracker {
namespace {

Error no_such_file_error(std::string_view group_id, std::string_view name) {
    return make_error(Errc::NotFound,
                      fmt::format("group '{}' has no file named '{}'", group_id, printable(name)));
}

// The file named by the "name" argument in the caller's group.
Result<FileRecord> file_arg(const Context& ctx, const proto::Value& request,
                            const GroupCall& call) {
    auto name = require_file_name(request, "name");
    if (!name) return name.error();
    auto file = ctx.store.file_by_name(call.group.pk, *name);
    if (!file) return file.error();
    if (!*file) return no_such_file_error(call.group.group_id, *name);
    return std::move(**file);
}

// A file of the caller's group found by the "info_hash" argument (40 hex digits, either case).
struct HashedFile {
    std::int64_t pk = 0;
    std::string info_hash;  // lower case
};

Result<HashedFile> file_by_hash_arg(const Context& ctx, const proto::Value& request,
                                    const GroupCall& call) {
    auto hash = require_bytes(request, "info_hash", "info hash");
    if (!hash) return hash.error();
    if (!is_info_hash_hex(*hash)) {
        return make_error(Errc::BadInput, fmt::format("invalid info hash '{}': use 40 hex digits",
                                                      printable(*hash)));
    }
    HashedFile file{0, std::move(*hash)};
    std::transform(file.info_hash.begin(), file.info_hash.end(), file.info_hash.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto pk = ctx.store.file_pk_by_hash(call.group.pk, file.info_hash);
    if (!pk) return pk.error();
    if (!*pk) {
        return make_error(Errc::NotFound, fmt::format("group '{}' has no file with info hash {}",
                                                      call.group.group_id, file.info_hash));
    }
    file.pk = **pk;
    return file;
}

// A member's request about one file of the group, found by `find` (file_arg, file_by_hash_arg).
template <class File>
struct FileCall {
    GroupCall call;
    File file;
};

template <class File>
Result<FileCall<File>> member_file(const Context& ctx, const proto::Value& request,
                                   Result<File> (*find)(const Context&, const proto::Value&,
                                                        const GroupCall&)) {
    auto call = member_call(ctx, request);
    if (!call) return call.error();
    auto file = find(ctx, request, *call);
    if (!file) return file.error();
    return FileCall<File>{std::move(call).value(), std::move(file).value()};
}

// The seeders that are online now, except the caller's own client.
proto::List online_peers(const Session& me, std::vector<Seeder> seeders) {
    proto::List peers;
    for (auto& s : seeders) {
        if (!s.online) continue;
        if (s.user_id == me.user_id && s.listen_addr == me.listen_addr) continue;  // ourselves
        proto::Dict peer{{"user", std::move(s.user_id)}, {"addr", std::move(s.listen_addr)}};
        if (!s.peer_key.empty()) peer["key"] = std::move(s.peer_key);
        peers.push_back(std::move(peer));
    }
    return peers;
}

// Proof for the seeders that this member may fetch the file's pieces (SECURITY.md), at the
// group's current membership epoch.
Status add_ticket(const Context& ctx, const GroupCall& call, std::string_view info_hash_hex,
                  proto::Dict& reply) {
    if (ctx.tickets == nullptr) return {};
    auto hash = from_hex(info_hash_hex);
    if (!hash) return make_error(Errc::Internal, "stored info hash is not hex");
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(ctx.now.time_since_epoch());
    IssuedTicket t = ctx.tickets->issue(call.session->user_id, call.group.group_id, *hash,
                                        call.group.epoch, now.count(), call.session->peer_key);
    reply["ticket"] = std::move(t.ticket);
    reply["ticket_expires"] = t.expires;
    return {};
}

// `reply` with the file's online seeders ("peers") and a ticket for them (get_file, get_peers).
Reply with_peers(const Context& ctx, const GroupCall& call, std::int64_t file_pk,
                 std::string_view info_hash_hex, proto::Dict reply) {
    auto seeders = ctx.store.seeders_of(file_pk);
    if (!seeders) return seeders.error();
    reply["peers"] = online_peers(*call.session, std::move(seeders).value());
    if (auto st = add_ticket(ctx, call, info_hash_hex, reply); !st) return st.error();
    return reply;
}

// Files count against their first uploader while they are in their group, whoever seeds them.
constexpr std::string_view kQuotaHint =
    "a file frees its place when it leaves its group (stop_share by everyone sharing it, or "
    "remove_file by the owner)";

// How many files the caller may still add: FileLimits::files_per_group and files_total.
Status check_upload_quota(const Context& ctx, const GroupCall& call) {
    auto counts = ctx.store.uploads_by(call.session->user_pk, call.group.pk);
    if (!counts) return counts.error();
    const FileLimits& limits = ctx.file_limits;
    if (counts->in_group >= limits.files_per_group) {
        return make_error(Errc::Limit,
                          fmt::format("group '{}' already has {} files you added, the most one "
                                      "account may add to a group; {}",
                                      call.group.group_id, counts->in_group, kQuotaHint));
    }
    if (counts->total >= limits.files_total) {
        return make_error(Errc::Limit,
                          fmt::format("your groups already have {} files you added, the most "
                                      "one account may add; {}",
                                      counts->total, kQuotaHint));
    }
    return {};
}

// A file new to this group whose info hash another group has: unless the caller seeds it there
// already, the caller proves having the file by sending one piece the tracker picks
// (challenge_piece). Knowing the info dictionary is not enough to share it elsewhere.
// Returns the challenge to send back, nothing when the upload may go ahead, or an error.
Result<std::optional<proto::Dict>> check_possession(const Context& ctx, const GroupCall& call,
                                                    const CheckedInfo& info,
                                                    const proto::Value& request) {
    auto elsewhere =
        ctx.store.info_hash_elsewhere(call.group.pk, info.info_hash, call.session->user_pk);
    if (!elsewhere) return elsewhere.error();
    if (!elsewhere->shared || elsewhere->seeded_by_user || info.piece_count() == 0) {
        return std::optional<proto::Dict>();
    }
    const std::uint32_t piece = challenge_piece(call.session->user_id, info);
    const std::int64_t piece_bytes =
        std::min(info.piece_length, info.length - std::int64_t{piece} * info.piece_length);
    if (piece_bytes > ctx.file_limits.proof_piece_bytes) {
        return make_error(
            Errc::Limit,
            fmt::format("'{}' is shared in another group, so sharing it here needs "
                        "one of its pieces as proof that you have it, and its "
                        "pieces of {} bytes are over the {} bytes a proof may "
                        "carry; share it with smaller pieces",
                        printable(info.name), piece_bytes, ctx.file_limits.proof_piece_bytes));
    }
    auto proof = request.get_string("proof");
    if (!proof)
        return std::optional<proto::Dict>(proto::Dict{{"prove_piece", std::int64_t{piece}}});
    if (!is_piece(info, piece, *proof)) {
        return make_error(Errc::Denied,
                          fmt::format("that is not piece {} of '{}': a file shared in another "
                                      "group can be shared here only by someone who has it",
                                      piece, printable(info.name)));
    }
    return std::optional<proto::Dict>();
}

}  // namespace

Reply handle_upload_file(const Context& ctx, const proto::Value& request) {
    auto call = member_call(ctx, request);
    if (!call) return call.error();
    auto bytes = require_bytes(request, "info", "info dictionary");
    if (!bytes) return bytes.error();
    auto info = check_info_dict(*bytes);
    if (!info) return info.error();
    const Session& me = *call->session;
    proto::Dict reply{
        {"info_hash", info->info_hash}, {"name", info->name}, {"length", info->length}, {"new", 0}};

    // The file of that name, if any: a different one is refused, the same one gains the caller
    // as a seeder. Asked again when another writer (e.g. on another tracker of the set) added
    // the name between the look and the insert, so the loser of that race hears which case it
    // is in rather than a vague refusal.
    auto join_existing = [&]() -> Result<std::optional<proto::Dict>> {
        auto existing = ctx.store.file_by_name(call->group.pk, info->name);
        if (!existing) return existing.error();
        if (!*existing) return std::optional<proto::Dict>();
        if ((*existing)->info_hash != info->info_hash) {
            return make_error(Errc::AlreadyExists,
                              fmt::format("group '{}' already has a different file named '{}'",
                                          call->group.group_id, printable(info->name)));
        }
        auto added = ctx.store.add_seeder((*existing)->pk, me.user_pk, me.listen_addr, ctx.now,
                                          ctx.file_limits.addrs_per_file);
        if (!added) return added.error();
        return std::optional<proto::Dict>(reply);
    };
    auto before = join_existing();
    if (!before) return before.error();
    if (*before) return std::move(**before);
    if (auto quota = check_upload_quota(ctx, *call); !quota) return quota.error();
    auto challenge = check_possession(ctx, *call, *info, request);
    if (!challenge) return challenge.error();
    if (*challenge) return std::move(**challenge);  // nothing recorded until the proof comes
    NewFile file{info->name, info->info_hash, *bytes, info->length, info->piece_length};
    auto added = ctx.store.add_file(call->group.pk, file, me.user_pk, me.listen_addr, ctx.now);
    if (!added) return added.error();
    if (!*added) {
        // The name was free just above: another writer took it in between.
        auto after = join_existing();
        if (!after) return after.error();
        if (*after) return std::move(**after);
        return make_error(Errc::AlreadyExists,
                          fmt::format("group '{}' already has this file", call->group.group_id));
    }
    reply["new"] = 1;
    return reply;
}

Reply handle_list_files(const Context& ctx, const proto::Value& request) {
    auto call = member_call(ctx, request);
    if (!call) return call.error();
    auto after = cursor_arg(request);
    if (!after) return after.error();
    Page page(ctx.limits);
    auto files = ctx.store.list_files(call->group.pk, *after, page.rows_to_fetch());
    if (!files) return files.error();
    for (auto& f : *files) {
        // Counted in members, not addresses: a client that came back on another port (or two
        // clients of one user) is still one seeder.
        std::set<std::string_view> seeders;
        std::set<std::string_view> online;
        for (const Seeder& s : f.seeders) {
            seeders.insert(s.user_id);
            if (s.online) online.insert(s.user_id);
        }
        proto::Dict item{{"name", f.name},
                         {"length", f.length},
                         {"info_hash", std::move(f.info_hash)},
                         {"seeders", static_cast<std::int64_t>(seeders.size())},
                         {"online", static_cast<std::int64_t>(online.size())}};
        if (!page.add(std::move(item), std::move(f.name))) break;
    }
    return page.finish("files", files->size());
}

Reply handle_stop_share(const Context& ctx, const proto::Value& request) {
    auto found = member_file(ctx, request, file_arg);
    if (!found) return found.error();
    auto& [call, file] = *found;
    auto removed = ctx.store.remove_seeder(file.pk, call.session->user_pk);
    if (!removed) return removed.error();
    if (*removed == 0) {
        return make_error(Errc::NotFound, fmt::format("you are not sharing '{}' in group '{}'",
                                                      printable(file.name), call.group.group_id));
    }
    return proto::Dict{};
}

Reply handle_get_file(const Context& ctx, const proto::Value& request) {
    auto found = member_file(ctx, request, file_arg);
    if (!found) return found.error();
    auto& [call, file] = *found;
    return with_peers(ctx, call, file.pk, file.info_hash,
                      proto::Dict{{"info", std::move(file.info)},
                                  {"info_hash", file.info_hash},
                                  {"name", std::move(file.name)},
                                  {"length", file.length}});
}

// What a downloader asks every few seconds: the online seeders of a file it already has the
// info dictionary of, and a ticket — without the (large) info dictionary itself.
Reply handle_get_peers(const Context& ctx, const proto::Value& request) {
    auto found = member_file(ctx, request, file_by_hash_arg);
    if (!found) return found.error();
    auto& [call, file] = *found;
    return with_peers(ctx, call, file.pk, file.info_hash, proto::Dict{});
}

Reply handle_add_seeder(const Context& ctx, const proto::Value& request) {
    auto found = member_file(ctx, request, file_by_hash_arg);
    if (!found) return found.error();
    auto& [call, file] = *found;
    const Session& me = *call.session;
    auto added = ctx.store.add_seeder(file.pk, me.user_pk, me.listen_addr, ctx.now,
                                      ctx.file_limits.addrs_per_file);
    if (!added) return added.error();
    return proto::Dict{};
}

// Moderation: the group's owner takes a file out of the group, with every member's seeder rows
// for it, so it is no longer listed and no ticket is issued for it. A member who only wants to
// stop sharing uses stop_share.
Reply handle_remove_file(const Context& ctx, const proto::Value& request) {
    auto found = member_file(ctx, request, file_arg);
    if (!found) return found.error();
    auto& [call, file] = *found;
    if (call.group.owner_pk != call.session->user_pk) {
        return make_error(Errc::Denied,
                          fmt::format("only the owner of group '{}' ({}) can remove a file; to "
                                      "stop sharing your own copy use stop_share {} {}",
                                      call.group.group_id, call.group.owner_id, call.group.group_id,
                                      printable(file.name)));
    }
    auto removed = ctx.store.remove_file(file.pk);
    if (!removed) return removed.error();
    if (!*removed) return no_such_file_error(call.group.group_id, file.name);
    return proto::Dict{};
}

}  // namespace gs::tracker
