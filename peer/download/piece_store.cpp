#include "peer/download/piece_store.hpp"

#include "peer/wire/wire_constants.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"

#include <fcntl.h>
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
        ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                             offset + static_cast<off_t>(done));
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
    s.verified_ = Bitfield(info.piece_count());

    bool fresh = false;
    s.fd_.reset(::open(s.part_path_.c_str(), O_RDWR | O_CLOEXEC));
    if (!s.fd_.valid() && errno == ENOENT) {
        s.fd_.reset(::open(s.part_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        fresh = true;
    }
    if (!s.fd_.valid()) return io_error("create", s.part_path_);
    if (::fstat(s.fd_.get(), &st) != 0) return io_error("read", s.part_path_);
    if (!S_ISREG(st.st_mode)) {
        return make_error(Errc::Io, fmt::format("{} is not a regular file", s.part_path_));
    }
    if (st.st_size != info.length) {
        fresh = true;  // not the partial file the state describes
        if (::ftruncate(s.fd_.get(), info.length) != 0) return io_error("resize", s.part_path_);
    }
    if (fresh) {
        // Whatever state file is there describes some other partial file: forget it, so a later
        // open cannot pair it with this one.
        if (::unlink(s.state_path_.c_str()) != 0 && errno != ENOENT) {
            return io_error("remove", s.state_path_);
        }
    }
    if (fresh && info.length > 0) {
        // Reserve the space now, so a full disk shows up at the start and not mid-download.
        int err = ::posix_fallocate(s.fd_.get(), 0, info.length);
        if (err == ENOSPC) {
            return make_error(Errc::Io, fmt::format("not enough disk space for {} ({} bytes)",
                                                    s.part_path_, info.length));
        }
        if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
            return io_error("allocate", s.part_path_, err);
        }
    }
    if (!fresh) {
        if (auto loaded = s.load_state(); !loaded) return loaded.error();
    }
    return s;
}

Status PieceStore::load_state() {
    net::Fd fd(::open(state_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno == ENOENT ? Status{} : io_error("read", state_path_);
    std::string text;
    char buf[64 * 1024];
    while (text.size() <= kMaxStateFileBytes) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("read", state_path_);
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    // Anything unexpected (another file's state, a damaged file) means starting over.
    auto v = proto::decode(text, proto::DecodeLimits{.max_depth = 1, .max_items = 8});
    if (!v || v->get_string("info_hash") != std::string_view(digest_bytes(info_.info_hash))) {
        return {};
    }
    auto bits = v->get_string("verified");
    if (!bits) return {};
    auto verified = Bitfield::from_bytes(*bits, info_.piece_count());
    if (verified) verified_ = std::move(verified).value();
    return {};
}

Result<bool> PieceStore::write_block(PieceIndex piece, std::uint32_t begin,
                                     std::string_view data) {
    assert(!finished_);
    if (piece.value >= info_.piece_count()) {
        return make_error(Errc::Protocol, fmt::format("block of piece {} which does not exist",
                                                      piece.value));
    }
    if (verified_.has(piece.value)) {
        return make_error(Errc::Protocol,
                          fmt::format("block of piece {} which is already verified", piece.value));
    }
    const std::uint32_t size = info_.piece_size(piece.value);
    const std::uint32_t blocks = (size + kBlockBytes - 1) / kBlockBytes;
    const std::uint32_t block = begin / kBlockBytes;
    if (begin % kBlockBytes != 0 || block >= blocks ||
        data.size() != std::min(kBlockBytes, size - begin)) {
        return make_error(Errc::Protocol, fmt::format("block at {} of {} bytes does not fit piece {}",
                                                      begin, data.size(), piece.value));
    }
    Assembly& a = assembling_[piece.value];
    if (a.got.empty()) {
        if (!spare_.empty()) {
            a.data.bytes = std::move(spare_.back());
            spare_.pop_back();
        } else {
            // Left uninitialised: every byte is written by a block before the piece is used.
            a.data.bytes.reset(new char[static_cast<std::size_t>(info_.piece_length)]);
        }
        a.data.size = size;
        a.got.assign(blocks, false);
    }
    std::memcpy(a.data.bytes.get() + begin, data.data(), data.size());
    if (!a.got[block]) {
        a.got[block] = true;
        ++a.got_count;
    }
    return a.got_count == blocks;
}

PieceData PieceStore::take_completed_piece(PieceIndex piece) {
    auto it = assembling_.find(piece.value);
    assert(it != assembling_.end() && it->second.got_count == it->second.got.size());
    PieceData data = std::move(it->second.data);
    assembling_.erase(it);
    return data;
}

void PieceStore::recycle(PieceData data) {
    if (data.bytes && spare_.size() < kMaxSpareBuffers) spare_.push_back(std::move(data.bytes));
}

bool PieceStore::verify(PieceIndex piece, std::string_view data) const {
    if (piece.value >= info_.piece_count() || data.size() != info_.piece_size(piece.value)) {
        return false;
    }
    return digest_bytes(sha1(data)) == info_.piece_hash(piece.value);
}

Status PieceStore::commit_piece(PieceIndex piece, std::string_view data) {
    assert(!finished_ && piece.value < info_.piece_count());
    assert(data.size() == info_.piece_size(piece.value));
    if (verified_.has(piece.value)) return {};
    auto offset = static_cast<off_t>(piece.value) * static_cast<off_t>(info_.piece_length);
    if (auto st = write_fully(fd_.get(), data, offset, part_path_); !st) return st;
    verified_.set(piece.value);
    ++unsaved_pieces_;
    return {};
}

PieceStore::StateSnapshot PieceStore::snapshot() {
    assert(!finished_);
    unsaved_pieces_ = 0;
    proto::Dict d{{"info_hash", digest_bytes(info_.info_hash)},
                  {"verified", verified_.to_bytes()}};
    return StateSnapshot{net::Fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)), part_path_, state_path_,
                         proto::encode(proto::Value(std::move(d)))};
}

Status PieceStore::write_state(const StateSnapshot& s) {
    // The state must never claim a piece whose bytes could still be lost.
    if (!s.data_fd.valid() || ::fdatasync(s.data_fd.get()) != 0) return io_error("sync", s.part_path);
    std::string tmp = s.state_path + ".tmp";
    {
        net::Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd.valid()) return io_error("create", tmp);
        Status written = write_fully(fd.get(), s.body, 0, tmp);
        if (written && ::fsync(fd.get()) != 0) written = io_error("sync", tmp);
        if (!written) {
            ::unlink(tmp.c_str());  // the old state stays valid
            return written;
        }
    }
    if (::rename(tmp.c_str(), s.state_path.c_str()) != 0) return io_error("rename", tmp);
    sync_directory_of(s.state_path);
    return {};
}

Status PieceStore::read_block(PieceIndex piece, std::uint32_t begin, std::span<char> out) const {
    if (piece.value >= info_.piece_count() || !verified_.has(piece.value)) {
        return make_error(Errc::NotFound, fmt::format("piece {} is not available", piece.value));
    }
    if (std::uint64_t{begin} + out.size() > info_.piece_size(piece.value)) {
        return make_error(Errc::BadInput, fmt::format("block at {} of {} bytes is outside piece {}",
                                                      begin, out.size(), piece.value));
    }
    off_t offset = static_cast<off_t>(piece.value) * static_cast<off_t>(info_.piece_length) + begin;
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::pread(fd_.get(), out.data() + got, out.size() - got,
                            offset + static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("read", part_path_);
        if (n == 0) return make_error(Errc::Io, fmt::format("{} is shorter than expected", part_path_));
        got += static_cast<std::size_t>(n);
    }
    return {};
}

Status PieceStore::finish() {
    assert(!finished_ && is_complete());
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
