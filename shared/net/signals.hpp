// SignalWatcher: delivers SIGTERM/SIGINT (or any set) as ordinary loop events via a signalfd.
// Blocks those signals for the whole process at construction, so construct it in main() before
// starting any thread. Reactor thread only.
#pragma once

#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"

#include <functional>
#include <initializer_list>

namespace gs::net {

class SignalWatcher {
public:
    SignalWatcher(EventLoop& loop, std::initializer_list<int> signals,
                  std::function<void(int signo)> on_signal);
    ~SignalWatcher();
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

private:
    EventLoop& loop_;
    Fd fd_;
    WatchId watch_ = 0;
    std::function<void(int)> on_signal_;
};

// LineReader: splits a non-blocking fd (stdin) into lines and hands each to a callback; reports
// end of input once. A line longer than `max_line_bytes` is dropped whole, up to its newline,
// and reported instead: no part of it runs as a command.
class LineReader {
public:
    struct Callbacks {
        std::function<void(std::string_view line)> on_line;
        std::function<void()> on_eof;
        // A line longer than `max_line_bytes` was dropped.
        std::function<void(std::size_t max_line_bytes)> on_too_long;
    };
    LineReader(EventLoop& loop, int fd, Callbacks callbacks, std::size_t max_line_bytes = 65536);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // While paused, no lines are delivered (bytes stay buffered or in the kernel).
    void pause();
    void resume();

private:
    void on_readable();
    void schedule_unpolled_read();
    void deliver();

    EventLoop& loop_;
    int fd_;
    Callbacks callbacks_;
    std::size_t max_line_bytes_;
    WatchId watch_ = 0;
    std::string pending_;
    bool polled_ = true;
    bool unpolled_read_scheduled_ = false;
    bool paused_ = false;
    bool eof_ = false;
    bool dropping_ = false;  // skipping the rest of a line that was too long
    bool eof_reported_ = false;
};

}  // namespace gs::net
