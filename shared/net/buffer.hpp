// Buffer: a growable byte queue with a read and a write position; bytes are appended at the
// back and consumed from the front. Used for per-connection input and output. Single thread.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace gs::net {

class Buffer {
public:
    std::size_t size() const { return write_ - read_; }
    bool empty() const { return size() == 0; }
    const char* data() const { return storage_.data() + read_; }
    std::string_view view() const { return {data(), size()}; }
    std::size_t capacity() const { return storage_.size(); }  // bytes held, used or not

    void append(std::string_view bytes);
    void consume(std::size_t n);
    void clear() { read_ = write_ = 0; }

    // Room for at least `n` more bytes at the back; commit() what was written there.
    char* prepare(std::size_t n);
    void commit(std::size_t n) { write_ += n; }

    // Reads from a non-blocking fd until EAGAIN, EOF or `max_bytes`. Returns bytes read, 0 on
    // EOF, -1 with errno on error; EAGAIN with nothing read returns -1 / errno EAGAIN.
    long read_from(int fd, std::size_t max_bytes);
    // Writes as much as the fd takes; returns false on a hard error (errno set).
    bool write_to(int fd);

private:
    std::vector<char> storage_;
    std::size_t read_ = 0;
    std::size_t write_ = 0;
};

}  // namespace gs::net
