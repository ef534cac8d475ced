#include "shared/cli.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

namespace gs::cli {

void usage_error(std::string_view usage, std::string_view message) {
    fmt::print(stderr, "error: {}\n{}\n", message, usage);
    std::exit(2);
}

std::string option_value(int argc, char** argv, int& i, std::string_view usage,
                         std::string_view missing) {
    if (i + 1 >= argc) usage_error(usage, missing);
    return argv[++i];
}

std::vector<std::string> parse_command_line(int argc, char** argv, std::string_view usage,
                                            std::span<const ValueOption> options) {
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        const std::string_view word = argv[i];
        if (word == "-h" || word == "--help") {
            fmt::print("{}\n", usage);
            std::exit(0);
        }
        const ValueOption* option = nullptr;
        for (const ValueOption& o : options) {
            if (o.name == word) option = &o;
        }
        if (option != nullptr) {
            *option->value = option_value(argc, argv, i, usage, option->missing);
        } else if (word.starts_with("--")) {
            usage_error(usage, fmt::format("unknown option '{}'", word));
        } else {
            words.emplace_back(word);
        }
    }
    return words;
}

}  // namespace gs::cli
