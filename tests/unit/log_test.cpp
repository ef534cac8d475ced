// shared/log: level names, the level filter, and the file sink (owner-only, appended to, moved
// aside once too big). The log is process-wide: each test sets what it relies on.
#include "shared/log.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gs::log {
namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(LogTest, LevelNamesParse) {
    EXPECT_EQ(parse_level("debug"), Level::debug);
    EXPECT_EQ(parse_level("info"), Level::info);
    EXPECT_EQ(parse_level("warn"), Level::warn);
    EXPECT_EQ(parse_level("error"), Level::error);
    EXPECT_EQ(parse_level("loud"), std::nullopt);
    EXPECT_EQ(parse_level("INFO"), std::nullopt);
}

TEST(LogTest, LinesBelowTheLevelAreDroppedAndTheRestAppendedToTheFile) {
    test::TempDir dir;
    const std::string path = dir.file("client.log");
    set_program("test");
    ASSERT_TRUE(log_to_file(path, false));
    set_level(Level::warn);
    debug("not {}", "this");
    info("nor this");
    warn("kept {}", 1);
    error("kept {}", 2);
    const std::string text = read_all(path);
    EXPECT_EQ(text.find("this"), std::string::npos) << text;
    EXPECT_NE(text.find("Z test warn: kept 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("Z test error: kept 2\n"), std::string::npos) << text;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // Reopened: appended to, not truncated.
    set_level(Level::debug);
    ASSERT_TRUE(log_to_file(path, false));
    debug("now {}", "shown");
    const std::string again = read_all(path);
    EXPECT_EQ(again.rfind(text, 0), 0u);
    EXPECT_NE(again.find("test debug: now shown"), std::string::npos);
    set_level(Level::info);
}

TEST(LogTest, AFileOverTheLimitIsMovedAsideAtOpen) {
    test::TempDir dir;
    const std::string path = dir.file("client.log");
    { std::ofstream(path) << std::string(100, 'x'); }
    ASSERT_TRUE(log_to_file(path, false, 50));
    info("fresh");
    EXPECT_EQ(read_all(path + ".1"), std::string(100, 'x'));
    EXPECT_NE(read_all(path).find("info: fresh"), std::string::npos);
    EXPECT_EQ(read_all(path).find('x'), std::string::npos);
}

}  // namespace
}  // namespace gs::log
