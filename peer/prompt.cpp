#include "peer/prompt.hpp"

#include <fmt/format.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace gs::peer {

namespace {
constexpr const char* kPromptText = "groupshare> ";
Prompt* g_prompt = nullptr;  // readline's callback interface has no user pointer
}  // namespace

Prompt::Prompt(net::EventLoop& loop, Callbacks callbacks)
    : loop_(loop), callbacks_(std::move(callbacks)), terminal_(::isatty(STDIN_FILENO) == 1) {
    if (!terminal_) {
        net::LineReader::Callbacks rc;
        rc.on_line = [this](std::string_view line) { callbacks_.on_line(line); };
        rc.on_eof = [this] { callbacks_.on_eof(); };
        rc.on_too_long = [this](std::size_t max_bytes) {
            print(fmt::format("error: line longer than {} bytes; ignored", max_bytes));
        };
        reader_ = std::make_unique<net::LineReader>(loop_, STDIN_FILENO, std::move(rc));
        return;
    }
    g_prompt = this;
    rl_callback_handler_install(kPromptText, &Prompt::on_readline_line);
    prompt_shown_ = true;
    tty_watch_ =
        loop_.watch(STDIN_FILENO, net::Interest::Read, [this](net::Ready) { on_terminal_input(); });
}

Prompt::~Prompt() {
    if (terminal_) {
        if (tty_watch_ != 0) loop_.unwatch(tty_watch_);
        rl_callback_handler_remove();
        g_prompt = nullptr;
    }
}

void Prompt::on_readline_line(char* line) {
    Prompt* self = g_prompt;
    if (self == nullptr) return;
    if (line == nullptr) {  // Ctrl-D
        std::fputs("\n", stdout);
        self->callbacks_.on_eof();
        return;
    }
    std::string text(line);
    if (!text.empty()) add_history(line);
    std::free(line);
    self->callbacks_.on_line(text);
}

void Prompt::on_terminal_input() {
    if (!paused_) rl_callback_read_char();
}

void Prompt::print(std::string_view line) {
    if (capture_) return capture_(line);
    if (line.starts_with("error: ")) printed_error_ = true;
    if (terminal_ && prompt_shown_ && !paused_) {
        // Clear the half-typed line, print above it, then redraw the prompt and what was typed.
        rl_save_prompt();
        rl_clear_visible_line();
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        rl_restore_prompt();
        rl_forced_update_display();
    } else {
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
    }
    std::fflush(stdout);
}

void Prompt::pause() {
    if (paused_) return;
    paused_ = true;
    if (reader_) reader_->pause();
    if (terminal_ && tty_watch_ != 0) {
        loop_.set_interest(tty_watch_, net::Interest::None);
        rl_callback_handler_remove();
        prompt_shown_ = false;
    }
}

void Prompt::resume() {
    if (!paused_) return;
    paused_ = false;
    if (reader_) reader_->resume();
    if (terminal_ && tty_watch_ != 0) {
        rl_callback_handler_install(kPromptText, &Prompt::on_readline_line);
        prompt_shown_ = true;
        loop_.set_interest(tty_watch_, net::Interest::Read);
    }
}

}  // namespace gs::peer
