#include "shared/net/buffer.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace gs::net {

namespace {
constexpr std::size_t kReadChunkBytes = 64 * 1024;
}

void Buffer::append(std::string_view bytes) {
    char* dst = prepare(bytes.size());
    if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());
    commit(bytes.size());
}

void Buffer::consume(std::size_t n) {
    assert(n <= size());
    read_ += n;
    if (read_ == write_) read_ = write_ = 0;
}

char* Buffer::prepare(std::size_t n) {
    if (storage_.size() - write_ >= n) return storage_.data() + write_;
    std::size_t live = size();
    if (read_ > 0 && storage_.size() - live >= n) {
        // Enough room if we slide the live bytes to the front.
        std::memmove(storage_.data(), storage_.data() + read_, live);
    } else {
        std::vector<char> bigger(std::max(storage_.size() * 2, live + n));
        if (live > 0) std::memcpy(bigger.data(), storage_.data() + read_, live);
        storage_.swap(bigger);
    }
    read_ = 0;
    write_ = live;
    return storage_.data() + write_;
}

long Buffer::read_from(int fd, std::size_t max_bytes) {
    std::size_t total = 0;
    while (total < max_bytes) {
        std::size_t want = std::min(kReadChunkBytes, max_bytes - total);
        char* dst = prepare(want);
        ssize_t n = ::read(fd, dst, want);
        if (n > 0) {
            commit(static_cast<std::size_t>(n));
            total += static_cast<std::size_t>(n);
            if (static_cast<std::size_t>(n) < want) break;  // drained for now
            continue;
        }
        if (n == 0) return total > 0 ? static_cast<long>(total) : 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (total > 0) return static_cast<long>(total);
            return -1;
        }
        return -1;
    }
    return static_cast<long>(total);
}

bool Buffer::write_to(int fd) {
    while (!empty()) {
        ssize_t n = ::send(fd, data(), size(), MSG_NOSIGNAL);
        if (n > 0) {
            consume(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;
    }
    return true;
}

}  // namespace gs::net
