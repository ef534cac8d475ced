// What the end-to-end test files share on top of the harness (tests/e2e/harness.hpp): the
// matchers and the filesystem alias they use, the piece length, and the client's usual answers,
// so that a test spells out only what is particular to it.
#pragma once

#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>

namespace gs::e2e {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// The piece length our clients build with (shared/proto/metainfo.hpp kPieceLengthBytes).
inline constexpr std::size_t kPiece = 512 * 1024;

// What the client prints for a command that needs a login when it has none.
inline constexpr const char* kNotLoggedIn =
    "error: you are not logged in; use login <user_id> <passwd> first";

// What list_groups shows for a group the user is not in: only its id (SECURITY.md).
inline std::string not_in(const std::string& group) {
    return group + "  (not a member; join_group " + group + " to ask)";
}

// What list_groups shows for a group the user is in.
inline std::string member_of(const std::string& group, const std::string& owner, int members) {
    return group + "  owner=" + owner + "  members=" + std::to_string(members) +
           "  (you are a member)";
}

// Writes `content` at `dir`/<holder>/`name` for each of `holders`: the copies several members
// keep of one file. The paths in that order, for a structured binding:
//     const auto [alices, bobs] = write_copies(dir_.path(), "data.bin", content, "alice", "bob");
template <typename... Holders>
std::array<fs::path, sizeof...(Holders)> write_copies(const fs::path& dir, const std::string& name,
                                                      const std::string& content,
                                                      const Holders&... holders) {
    std::array<fs::path, sizeof...(Holders)> paths{dir / holders / name...};
    for (const fs::path& path : paths) write_file(path, content);
    return paths;
}

}  // namespace gs::e2e
