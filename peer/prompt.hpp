// Prompt: the client's terminal side. On a terminal: a prompt with line editing and history
// (readline's callback interface, driven by the loop). Otherwise: plain lines, no prompt, no
// colour. Commands run one at a time: the owner pauses the prompt while a command is in flight
// and resumes it when the command has printed its answer. Reactor thread only.
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

    // Prints one line (without its newline) and flushes; safe while the user is typing.
    void print(std::string_view line);
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
    std::unique_ptr<net::LineReader> reader_;  // when stdin is not a terminal
    net::WatchId tty_watch_ = 0;
};

}  // namespace gs::peer
