#include "peer/download/piece_store.hpp"

#include "peer/wire/wire_constants.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace gs::peer {

namespace {

constexpr std::uint32_t kBlockBytes = wire::kBlockBytes;
constexpr std::size_t kMaxStateFileBytes = 1 << 20;  // 20-byte hash + a bitfield of 8M pieces

Error io_error(std::string_view what, const std::string& path, int err = errno) {
    return make_error(Errc::Io, fmt::format("cannot {} {}: {}", what, path, std::strerror(err)));
}

Status write_fully(int fd, std::string_view data, off_t offset, const std::string& path) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n =
            ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("write to", path);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

// Makes a rename or unlink in the directory of `path` durable.
void sync_directory_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    net::Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.valid()) ::fsync(fd.get());  // best effort: the data itself is already synced
}

// rename(2) that never replaces `to`: renameat2(RENAME_NOREPLACE), or link+unlink on file
// systems without it. 0 or an errno (EEXIST when `to` exists).
int rename_no_replace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return errno;
    if (::link(from.c_str(), to.c_str()) != 0) return errno;
    ::unlink(from.c_str());
    return 0;
}

// Removes `path` only if it is still the file open as `fd` (nobody swapped it meanwhile).
void unlink_if_same(const std::string& path, int fd) {
    struct stat ours {};
    struct stat there {};
    if (::fstat(fd, &ours) != 0 || ::lstat(path.c_str(), &there) != 0) return;
    if (ours.st_dev == there.st_dev && ours.st_ino == there.st_ino) ::unlink(path.c_str());
}

Error symlink_error(const std::string& path) {
    return make_error(Errc::AlreadyExists,
                      fmt::format("{} is a symbolic link, which a download never follows; move it "
                                  "away or choose another destination",
                                  path));
}

Error not_regular_error(const std::string& path) {
    return make_error(Errc::AlreadyExists,
                      fmt::format("{} is not a regular file; move it away or choose another "
                                  "destination",
                                  path));
}

}  // namespace

Result<PieceStore> PieceStore::open(const std::string& destination, const proto::InfoDict& info) {
    struct stat st {};
    if (::lstat(destination.c_str(), &st) == 0) {
        return make_error(Errc::AlreadyExists, fmt::format("{} already exists", destination));
    }
    PieceStore s;
    s.info_ = info;
    s.destination_ = destination;
    s.part_path_ = destination + ".part";
    s.state_path_ = destination + ".part.state";
    s.resumed_ = Bitfield(info.piece_count());

    if (::lstat(s.part_path_.c_str(), &st) == 0) {
        if (auto adopted = s.adopt_partial_file(); !adopted) return adopted.error();
        return s;
    }
    if (errno != ENOENT) return io_error("read", s.part_path_);
    if (auto created = s.create_partial_file(); !created) return created.error();
    return s;
}

Status PieceStore::adopt_partial_file() {
    // O_NOFOLLOW: never write through a link someone planted; O_NONBLOCK: opening a FIFO or a
    // device must not hang or act (no effect on the regular file we accept).
    fd_.reset(::open(part_path_.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd_.valid()) {
        if (errno == ELOOP) return symlink_error(part_path_);
        if (errno == EISDIR || errno == ENXIO) return not_regular_error(part_path_);
        return io_error("open", part_path_);
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return io_error("read", part_path_);
    if (!S_ISREG(st.st_mode)) return not_regular_error(part_path_);
    if (st.st_uid != ::geteuid()) return not_resumable("it belongs to another user");
    if (st.st_nlink != 1) return not_resumable("it has other hard links");
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return in_use_error();
        return io_error("lock", part_path_);
    }
    if (auto loaded = load_state(); !loaded) return loaded;
    if (st.st_size != info_.length) return not_resumable("its size is not that of " + info_.name);
    return {};
}

Status PieceStore::create_partial_file() {
    struct stat st {};
    if (::lstat(state_path_.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) return symlink_error(state_path_);
        return make_error(Errc::AlreadyExists,
                          fmt::format("{} exists but {} does not, so there is no download of {} "
                                      "to resume; move it away or choose another destination",
                                      state_path_, part_path_, info_.name));
    }
    if (errno != ENOENT) return io_error("read", state_path_);

    fd_.reset(::open(part_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd_.valid()) {
        if (errno == EEXIST) return not_resumable("another program created it just now");
        return io_error("create", part_path_);
    }
    // From here on the file is ours: a failure removes it again, so a retry starts clean.
    Status made = [&]() -> Status {
        if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
            return errno == EWOULDBLOCK ? in_use_error() : io_error("lock", part_path_);
        }
        if (::ftruncate(fd_.get(), info_.length) != 0) return io_error("resize", part_path_);
        if (info_.length == 0) return {};
        // Reserve the space now, so a full disk shows up at the start and not mid-download.
        int err = ::posix_fallocate(fd_.get(), 0, info_.length);
        if (err == ENOSPC) {
            return make_error(Errc::Io, fmt::format("not enough disk space for {} ({} bytes)",
                                                    part_path_, info_.length));
        }
        if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
            return io_error("allocate", part_path_, err);
        }
        return {};
    }();
    // The state (no piece verified yet) goes with the partial file at once: it is what lets a
    // later open resume the file, so a kill before the first piece must not strand it.
    if (made) made = write_state(snapshot(Bitfield(info_.piece_count())));
    if (!made) unlink_if_same(part_path_, fd_.get());
    return made;
}

Status PieceStore::load_state() {
    net::Fd fd(::open(state_path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT) return not_resumable(fmt::format("there is no {}", state_path_));
        if (errno == ELOOP) return symlink_error(state_path_);
        return io_error("read", state_path_);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return io_error("read", state_path_);
    if (!S_ISREG(st.st_mode)) return not_regular_error(state_path_);
    if (st.st_uid != ::geteuid()) {
        return not_resumable(fmt::format("{} belongs to another user", state_path_));
    }
    std::string text;
    char buf[64 * 1024];
    while (text.size() <= kMaxStateFileBytes) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("read", state_path_);
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    const Error damaged = not_resumable(fmt::format("{} is damaged", state_path_));
    if (text.size() > kMaxStateFileBytes) return damaged;
    auto v = proto::decode(text, proto::DecodeLimits{.max_depth = 1, .max_items = 8});
    if (!v) return damaged;
    auto hash = v->get_string("info_hash");
    auto bits = v->get_string("verified");
    if (!hash || !bits) return damaged;
    if (*hash != std::string_view(digest_bytes(info_.info_hash))) {
        return not_resumable(fmt::format("{} is for another file", state_path_));
    }
    auto verified = Bitfield::from_bytes(*bits, info_.piece_count());
    if (!verified) return damaged;
    resumed_ = std::move(verified).value();
    return {};
}

Error PieceStore::not_resumable(std::string_view why) const {
    return make_error(Errc::AlreadyExists,
                      fmt::format("{} already exists and is not a download of {} we can resume "
                                  "({}); move it away or choose another destination",
                                  part_path_, info_.name, why));
}

Error PieceStore::in_use_error() const {
    return make_error(Errc::AlreadyExists,
                      fmt::format("{} is in use by another download; wait for it to end or "
                                  "choose another destination",
                                  part_path_));
}

Status PieceStore::write_block(PieceIndex piece, std::uint32_t begin, std::string_view data) {
    assert(!finished_);
    if (piece.value >= info_.piece_count()) {
        return make_error(Errc::Protocol,
                          fmt::format("block of piece {} which does not exist", piece.value));
    }
    const std::uint32_t size = info_.piece_size(piece.value);
    if (begin % kBlockBytes != 0 || begin >= size ||
        data.size() != std::min(kBlockBytes, size - begin)) {
        return make_error(Errc::Protocol,
                          fmt::format("block at {} of {} bytes does not fit piece {}", begin,
                                      data.size(), piece.value));
    }
    PieceData& a = assembling_[piece.value];
    if (!a.bytes) {
        if (!spare_.empty()) {
            a.bytes = std::move(spare_.back());
            spare_.pop_back();
        } else {
            // Left uninitialised: every byte is written by a block before the piece is used.
            a.bytes.reset(new char[static_cast<std::size_t>(info_.piece_length)]);
        }
        a.size = size;
    }
    std::memcpy(a.bytes.get() + begin, data.data(), data.size());
    return {};
}

Result<PieceStore::Verdict> PieceStore::verify_piece(PieceIndex piece) {
    CompletePiece complete = take_piece(piece);
    Result<Verdict> verdict = check_and_write(complete);
    recycle(std::move(complete), verdict && *verdict == Verdict::Passed);
    return verdict;
}

PieceStore::CompletePiece PieceStore::take_piece(PieceIndex piece) {
    assert(!finished_);
    auto it = assembling_.find(piece.value);
    assert(it != assembling_.end());
    CompletePiece out;
    out.piece = piece;
    out.bytes = std::move(it->second.bytes);
    out.size = it->second.size;
    assembling_.erase(it);
    if (piece.value < info_.piece_count()) {
        out.expected_size = static_cast<std::uint32_t>(info_.piece_size(piece.value));
        out.expected_hash = std::string(info_.piece_hash(piece.value));
    }
    out.offset = static_cast<off_t>(piece.value) * static_cast<off_t>(info_.piece_length);
    out.fd = net::Fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    out.part_path = part_path_;
    out.write_lock = write_lock_;
    return out;
}

Result<PieceStore::Verdict> PieceStore::check_and_write(const CompletePiece& p) {
    if (p.expected_hash.empty() || p.size != p.expected_size ||
        digest_bytes(sha1(p.view())) != p.expected_hash) {
        return Verdict::Failed;
    }
    if (!p.fd.valid()) return io_error("write", p.part_path);
    std::unique_lock<std::mutex> one_writer;
    if (p.write_lock) one_writer = std::unique_lock(*p.write_lock);
    if (auto written = write_fully(p.fd.get(), p.view(), p.offset, p.part_path); !written) {
        return written.error();
    }
    return Verdict::Passed;
}

void PieceStore::recycle(CompletePiece&& piece, bool written) {
    if (written) ++unsaved_pieces_;
    if (spare_.size() < kMaxSpareBuffers && piece.bytes) spare_.push_back(std::move(piece.bytes));
}

bool PieceStore::verify(PieceIndex piece, std::string_view data) const {
    if (piece.value >= info_.piece_count() || data.size() != info_.piece_size(piece.value)) {
        return false;
    }
    return digest_bytes(sha1(data)) == info_.piece_hash(piece.value);
}

PieceStore::StateSnapshot PieceStore::snapshot(const Bitfield& verified) {
    assert(!finished_ && verified.size() == info_.piece_count());
    unsaved_pieces_ = 0;
    proto::Dict d{{"info_hash", digest_bytes(info_.info_hash)}, {"verified", verified.to_bytes()}};
    return StateSnapshot{net::Fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)), part_path_, state_path_,
                         proto::encode(proto::Value(std::move(d)))};
}

Status PieceStore::write_state(const StateSnapshot& s) {
    // The state must never claim a piece whose bytes could still be lost.
    if (!s.data_fd.valid() || ::fdatasync(s.data_fd.get()) != 0)
        return io_error("sync", s.part_path);
    // A fresh name each time (mkostemp: O_CREAT|O_EXCL), so a planted file or link is never
    // written through.
    std::string tmp = s.state_path + ".tmp.XXXXXX";
    {
        net::Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
        if (!fd.valid()) return io_error("create", tmp);
        Status written = write_fully(fd.get(), s.body, 0, tmp);
        if (written && ::fsync(fd.get()) != 0) written = io_error("sync", tmp);
        if (!written) {
            ::unlink(tmp.c_str());  // the old state stays valid
            return written;
        }
    }
    if (::rename(tmp.c_str(), s.state_path.c_str()) != 0) {
        Error failed = io_error("rename", tmp);
        ::unlink(tmp.c_str());
        return failed;
    }
    sync_directory_of(s.state_path);
    return {};
}

Status PieceStore::finish() {
    assert(!finished_);
    if (::fsync(fd_.get()) != 0) return io_error("sync", part_path_);
    if (int err = rename_no_replace(part_path_, destination_); err != 0) {
        if (err == EEXIST) {
            return make_error(Errc::AlreadyExists,
                              fmt::format("{} appeared during the download; the data is kept in {}",
                                          destination_, part_path_));
        }
        return io_error("rename to", destination_, err);
    }
    finished_ = true;
    if (::unlink(state_path_.c_str()) != 0 && errno != ENOENT) {
        return io_error("remove", state_path_);
    }
    sync_directory_of(destination_);
    return {};
}

}  // namespace gs::peer
