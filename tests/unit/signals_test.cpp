// LineReader (shared/net/signals.hpp): stdin split into lines, with a cap on a line's length —
// at the cap a line is delivered, past it the whole line is dropped and reported once. Over a
// pipe in an EventLoop, with a small cap.
#include "shared/net/signals.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "tests/unit/run_until.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace gs::net {
namespace {

constexpr std::size_t kMax = 8;

class LineReaderTest : public test_support::LoopTest {
protected:
    void SetUp() override {
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        read_end_ = Fd(fds[0]);
        write_end_ = Fd(fds[1]);
        LineReader::Callbacks cb;
        cb.on_line = [this](std::string_view line) { lines_.emplace_back(line); };
        cb.on_eof = [this] { eof_ = true; };
        cb.on_too_long = [this](std::size_t max_bytes) { too_long_.push_back(max_bytes); };
        reader_ = std::make_unique<LineReader>(loop_, read_end_.get(), std::move(cb), kMax);
    }

    void TearDown() override { reader_.reset(); }

    void write(std::string_view bytes) {
        ASSERT_EQ(::write(write_end_.get(), bytes.data(), bytes.size()),
                  static_cast<ssize_t>(bytes.size()));
    }
    // Closes the input, runs the loop to its end and checks what came out of it.
    void expect_at_end(const std::vector<std::string>& lines,
                       const std::vector<std::size_t>& too_long) {
        write_end_.reset();
        ASSERT_TRUE(run_until([&] { return eof_; }));
        EXPECT_EQ(lines_, lines);
        EXPECT_EQ(too_long_, too_long);
    }

    Fd read_end_;
    Fd write_end_;
    std::unique_ptr<LineReader> reader_;
    std::vector<std::string> lines_;
    std::vector<std::size_t> too_long_;
    bool eof_ = false;
};

TEST_F(LineReaderTest, LinesBelowAndAtTheCapAreDelivered) {
    write("1234567\n12345678\n");
    write("87654321");  // the last line, at the cap, without a newline
    expect_at_end({"1234567", "12345678", "87654321"}, {});
}

TEST_F(LineReaderTest, ALineOneByteOverTheCapIsDroppedWholeAndReportedOnce) {
    write("123456789\nnext\n");
    expect_at_end({"next"}, {kMax});
}

TEST_F(LineReaderTest, AnEndlessLineIsDroppedUpToItsNewlineWhenThatComesLater) {
    write("123456789abc");  // over the cap, no newline yet
    ASSERT_TRUE(run_until([&] { return !too_long_.empty(); }));
    write("def ghi");  // still the same line: none of it may run as a command
    write(" jkl\nnext\n");
    expect_at_end({"next"}, {kMax});
}

TEST_F(LineReaderTest, ATooLongLastLineWithoutNewlineIsDroppedAndTheEndStillReported) {
    write("ok\n123456789");
    expect_at_end({"ok"}, {kMax});
}

}  // namespace
}  // namespace gs::net
