#include "shared/net/signals.hpp"

#include "shared/log.hpp"

#include <fcntl.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace gs::net {

SignalWatcher::SignalWatcher(EventLoop& loop, std::initializer_list<int> signals,
                             std::function<void(int)> on_signal)
    : loop_(loop), on_signal_(std::move(on_signal)) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        throw std::runtime_error(std::string("sigprocmask: ") + std::strerror(errno));
    }
    fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_.valid()) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    watch_ = loop_.watch(fd_.get(), Interest::Read, [this](Ready) {
        signalfd_siginfo info{};
        while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            on_signal_(static_cast<int>(info.ssi_signo));
        }
    });
}

SignalWatcher::~SignalWatcher() {
    loop_.unwatch(watch_);
}

LineReader::LineReader(EventLoop& loop, int fd, Callbacks callbacks, std::size_t max_line_bytes)
    : loop_(loop), fd_(fd), callbacks_(std::move(callbacks)), max_line_bytes_(max_line_bytes) {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    watch_ = loop_.try_watch(fd_, Interest::Read, [this](Ready) { on_readable(); });
    // A regular file or /dev/null cannot be polled, and reading it never blocks: read it from
    // the loop, one chunk per turn, while not paused.
    polled_ = watch_ != 0;
    if (!polled_) schedule_unpolled_read();
}

void LineReader::schedule_unpolled_read() {
    if (unpolled_read_scheduled_) return;
    unpolled_read_scheduled_ = true;
    loop_.after(std::chrono::milliseconds(0), [this] {
        unpolled_read_scheduled_ = false;
        if (paused_ || eof_) return;
        on_readable();
        if (!eof_) schedule_unpolled_read();
    });
}

LineReader::~LineReader() {
    if (watch_ != 0) loop_.unwatch(watch_);
}

void LineReader::pause() {
    paused_ = true;
    if (watch_ != 0) loop_.set_interest(watch_, Interest::None);
}

void LineReader::resume() {
    paused_ = false;
    if (watch_ != 0) loop_.set_interest(watch_, Interest::Read);
    if (!polled_) schedule_unpolled_read();
    // Lines already buffered are delivered from the loop, not from inside the caller.
    loop_.defer([this] { deliver(); });
}

void LineReader::on_readable() {
    char chunk[4096];
    while (true) {
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n > 0) {
            pending_.append(chunk, static_cast<std::size_t>(n));
            if (pending_.size() > 4 * max_line_bytes_) break;  // deliver before reading more
            continue;
        }
        if (n == 0) {
            eof_ = true;
            if (watch_ != 0) loop_.unwatch(watch_);
            watch_ = 0;
            break;
        }
        if (!polled_) break;  // one chunk per turn
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            log::warn("reading input failed: {}", std::strerror(errno));
            eof_ = true;
            if (watch_ != 0) loop_.unwatch(watch_);
            watch_ = 0;
        }
        break;
    }
    deliver();
}

void LineReader::deliver() {
    while (!paused_) {
        auto nl = pending_.find('\n');
        if (dropping_) {  // the rest of a line that was too long
            pending_.erase(0, nl == std::string::npos ? pending_.size() : nl + 1);
            if (nl == std::string::npos) break;
            dropping_ = false;
            continue;
        }
        // The line, or what has come of it so far: too long to be a command.
        const bool too_long =
            nl == std::string::npos ? pending_.size() > max_line_bytes_ : nl > max_line_bytes_;
        if (too_long) {
            dropping_ = true;
            if (callbacks_.on_too_long) callbacks_.on_too_long(max_line_bytes_);
            continue;
        }
        if (nl == std::string::npos) {
            if (!eof_ || pending_.empty()) break;
            nl = pending_.size();  // last line, no newline
        }
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, std::min(nl + 1, pending_.size()));
        if (!line.empty() && line.back() == '\r') line.pop_back();
        callbacks_.on_line(line);
    }
    if (!paused_ && eof_ && pending_.empty() && !eof_reported_) {
        eof_reported_ = true;
        if (callbacks_.on_eof) callbacks_.on_eof();
    }
}

}  // namespace gs::net
