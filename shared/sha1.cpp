#include "shared/sha1.hpp"

#include "shared/net/fd.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace gs {

namespace {

// Each thread reads this much at a time: big enough for the kernel to stream, small enough that
// memory stays bounded (rounded to whole pieces, at least one piece).
constexpr std::int64_t kChunkBytes = 4 * 1024 * 1024;

const EVP_MD* sha1_md() {
    // Fetched once: the implicit fetch behind EVP_sha1() costs a lock and a lookup per call.
    static EVP_MD* md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "SHA1", nullptr);
        if (m == nullptr) {
            std::fputs("fatal: OpenSSL has no SHA1\n", stderr);
            std::abort();
        }
        return m;
    }();
    return md;
}

Sha1Digest digest_of(const void* data, std::size_t size) {
    Sha1Digest out{};
    unsigned int len = 0;
    if (EVP_Digest(data, size, out.data(), &len, sha1_md(), nullptr) != 1 || len != out.size()) {
        std::fputs("fatal: SHA1 failed\n", stderr);
        std::abort();
    }
    return out;
}

Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error(Errc::Io, fmt::format("cannot {} {}: {}", what, path, std::strerror(err)));
}

constexpr int kShortRead = -1;  // the file shrank under us

// Reads exactly `size` bytes at `offset`. Returns 0, an errno, or kShortRead.
int read_fully(int fd, char* buf, std::size_t size, std::int64_t offset) {
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = ::pread(fd, buf + got, size - got,
                            static_cast<off_t>(offset) + static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return kShortRead;
        got += static_cast<std::size_t>(n);
    }
    return 0;
}

}  // namespace

Sha1Digest sha1(std::span<const std::byte> bytes) {
    return digest_of(bytes.data(), bytes.size());
}

Sha1Digest sha1(std::string_view bytes) {
    return digest_of(bytes.data(), bytes.size());
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string to_hex(const Sha1Digest& digest) {
    return to_hex(digest_bytes(digest));
}

Result<Sha1Digest> from_hex(std::string_view hex) {
    if (hex.size() != 40) return make_error(Errc::BadInput, "an info hash is 40 hex digits");
    Sha1Digest out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = hex_digit_value(hex[2 * i]);
        int lo = hex_digit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return make_error(Errc::BadInput, "an info hash is 40 hex digits");
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return out;
}

std::string digest_bytes(const Sha1Digest& digest) {
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

Result<Sha1Digest> digest_from_bytes(std::string_view raw) {
    if (raw.size() != 20) return make_error(Errc::BadInput, "a SHA1 digest is 20 bytes");
    Sha1Digest out{};
    std::memcpy(out.data(), raw.data(), out.size());
    return out;
}

Result<std::string> hash_file_pieces(const std::string& path, std::int64_t piece_length,
                                     unsigned threads, const HashProgress& progress,
                                     std::int64_t* length_out) {
    assert(piece_length > 0);
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return io_error("open", path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return io_error("read", path, errno);
    if (!S_ISREG(st.st_mode)) {
        return make_error(Errc::BadInput, fmt::format("{} is not a regular file", path));
    }
    const std::int64_t total = st.st_size;
    const std::int64_t pieces = total / piece_length + (total % piece_length != 0 ? 1 : 0);
    const std::int64_t chunk_pieces = std::max<std::int64_t>(1, kChunkBytes / piece_length);
    const std::int64_t chunk_bytes = chunk_pieces * piece_length;
    const std::int64_t chunks = pieces / chunk_pieces + (pieces % chunk_pieces != 0 ? 1 : 0);
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // advice only; failure is harmless

    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::clamp<std::int64_t>(chunks, 1, threads));

    std::string out(static_cast<std::size_t>(pieces) * 20, '\0');
    std::atomic<std::int64_t> next_chunk{0};
    std::atomic<int> failure{0};  // first errno seen; stops every thread
    std::mutex progress_mutex;
    std::int64_t done_bytes = 0;  // guarded by progress_mutex

    auto worker = [&] {
        std::unique_ptr<char[]> buf(new char[static_cast<std::size_t>(chunk_bytes)]);
        while (failure.load(std::memory_order_relaxed) == 0) {
            const std::int64_t c = next_chunk.fetch_add(1);
            if (c >= chunks) return;
            const std::int64_t offset = c * chunk_bytes;
            const std::int64_t size = std::min(chunk_bytes, total - offset);
            if (int err = read_fully(fd.get(), buf.get(), static_cast<std::size_t>(size), offset)) {
                int expected = 0;
                failure.compare_exchange_strong(expected, err);
                return;
            }
            for (std::int64_t at = 0; at < size; at += piece_length) {
                const std::int64_t piece = (offset + at) / piece_length;
                const auto len = static_cast<std::size_t>(std::min(piece_length, size - at));
                Sha1Digest d = digest_of(buf.get() + at, len);
                std::memcpy(out.data() + piece * 20, d.data(), d.size());
            }
            if (progress) {
                std::lock_guard lock(progress_mutex);
                done_bytes += size;
                progress(done_bytes, total);
            }
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();

    if (int err = failure.load()) {
        if (err == kShortRead) {
            return make_error(Errc::Io,
                              fmt::format("cannot read {}: it changed while being read", path));
        }
        return io_error("read", path, err);
    }
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0) return io_error("read", path, errno);
    if (after.st_size != total) {
        return make_error(Errc::Io,
                          fmt::format("cannot read {}: it changed while being read", path));
    }
    if (length_out != nullptr) *length_out = total;
    return out;
}

}  // namespace gs
