// Prompt: the client's terminal side. On a terminal: a prompt with line editing and history
// (readline's callback interface, driven by the loop). Otherwise: plain lines, no prompt, no
// colour. Commands run one at a time: the owner pauses the prompt while a command is in flight
// and resumes it when the command has printed its answer. Every printed line goes to stdout
// (log lines never do: shared/log.hpp), unless a capture is set: then to the capture (the
// output of a command run for `client ctl`). Reactor thread only.
#pragma once

#include "shared/net/event_loop.hpp"
#include "shared/net/signals.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace gs::peer {

class Prompt {
public:
    struct Callbacks {
        std::function<void(std::string_view line)> on_line;
        std::function<void()> on_eof;
    };

    Prompt(net::EventLoop& loop, Callbacks callbacks);
    ~Prompt();
    Prompt(const Prompt&) = delete;
    Prompt& operator=(const Prompt&) = delete;

    bool is_terminal() const { return terminal_; }

    // Prints one line (without its newline) and flushes; safe while the user is typing: the
    // half-typed line is cleared, the line printed above it, and the prompt redrawn.
    void print(std::string_view line);
    // While set, print() hands each line to `sink` instead of stdout; an empty function ends it.
    void set_capture(std::function<void(std::string_view line)> sink) {
        capture_ = std::move(sink);
    }
    // Whether a line starting with "error: " went to stdout (scripts: the exit status).
    bool printed_error() const { return printed_error_; }
    // Each does nothing when the prompt is already paused / reading.
    void pause();
    void resume();

private:
    static void on_readline_line(char* line);
    void on_terminal_input();

    net::EventLoop& loop_;
    Callbacks callbacks_;
    bool terminal_ = false;
    bool paused_ = false;
    bool prompt_shown_ = false;
    bool printed_error_ = false;
    std::function<void(std::string_view)> capture_;
    std::unique_ptr<net::LineReader> reader_;  // when stdin is not a terminal
    net::WatchId tty_watch_ = 0;
};

}  // namespace gs::peer
