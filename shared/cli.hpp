// Command-line reading both programs share, so that they answer alike: a usage error prints
// "error: <message>" and the usage line to stderr and exits with status 2; "-h" or "--help"
// prints the usage line and exits 0. Start-up only: these functions may end the process.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gs::cli {

[[noreturn]] void usage_error(std::string_view usage, std::string_view message);

// The word after the option argv[i], advancing i past it; a usage error saying `missing` when
// the option is the last word.
std::string option_value(int argc, char** argv, int& i, std::string_view usage,
                         std::string_view missing);

// An option that takes the next word as its value.
struct ValueOption {
    std::string_view name;     // "--data-dir"
    std::string_view missing;  // the usage error when no word follows
    std::string* value;
};

// Reads argv[1..]: each of `options` takes the word after it, "-h" and "--help" print `usage`,
// any other word starting with "--" is a usage error. Returns the remaining words in order.
std::vector<std::string> parse_command_line(int argc, char** argv, std::string_view usage,
                                            std::span<const ValueOption> options);

}  // namespace gs::cli
