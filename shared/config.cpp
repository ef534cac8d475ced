#include "shared/config.hpp"

#include "shared/ids.hpp"
#include "shared/sha1.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

namespace gs {

namespace {

constexpr std::size_t kDigestBytes = 32;  // SHA-256

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// The next line of `text` without its comment and surrounding blanks; advances `text`.
std::string_view next_line(std::string_view& text) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    return trim(line);
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

using Fields = std::vector<std::string_view>;

// Hands the fields of each line of `text` that has any to `on_fields` (with its line number)
// until one is refused; that refusal becomes "<path> line <n>: <why><advice>". Returns how
// many lines `text` has.
Result<int> read_fields(std::string_view text, std::string_view path, std::string_view advice,
                        const std::function<Status(const Fields&, int line_number)>& on_fields) {
    int line_number = 0;
    while (!text.empty()) {
        ++line_number;
        Fields fields = split_fields(next_line(text));
        if (fields.empty()) continue;
        if (auto st = on_fields(fields, line_number); !st) {
            return make_error(Errc::BadInput, fmt::format("{} line {}: {}{}", path, line_number,
                                                          st.error().message, advice));
        }
    }
    return line_number;
}

Error bad_input(std::string message) {
    return make_error(Errc::BadInput, std::move(message));
}

}  // namespace

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) fields.push_back(line.substr(start, i - start));
    }
    return fields;
}

Result<std::string> parse_fingerprint(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_error(Errc::BadInput,
                          fmt::format("'{}' is not a key fingerprint: {} (expected sha256: and 64 "
                                      "hex digits)",
                                      printable(text), why));
    };
    std::string prefix;
    for (char c : text.substr(0, kFingerprintPrefix.size())) prefix.push_back(lower(c));
    if (prefix != kFingerprintPrefix) return bad("it does not start with sha256:");
    std::string_view hex = text.substr(kFingerprintPrefix.size());
    // Either 64 digits, or 32 pairs separated by ':' (as `openssl x509 -fingerprint` prints).
    bool with_colons = hex.size() == kDigestBytes * 3 - 1;
    if (hex.size() != kDigestBytes * 2 && !with_colons) return bad("wrong length");
    std::string out(kFingerprintPrefix);
    for (std::size_t i = 0; i < hex.size(); ++i) {
        if (with_colons && i % 3 == 2) {
            if (hex[i] != ':') return bad("':' expected between bytes");
            continue;
        }
        if (hex_digit_value(hex[i]) < 0) return bad("not a hex digit");
        out.push_back(lower(hex[i]));
    }
    return out;
}

std::string format_fingerprint(std::string_view digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(kFingerprintPrefix);
    for (unsigned char b : digest) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0x0f]);
    }
    return out;
}

Result<std::vector<TrackerEntry>> parse_tracker_info(std::string_view text,
                                                     const std::string& path_for_errors) {
    std::vector<TrackerEntry> entries;
    auto read = read_fields(
        text, path_for_errors, "", [&](const Fields& fields, int line_number) -> Status {
            if (fields.size() > 2) {
                return bad_input(
                    "expected IP:PORT, optionally followed by the tracker's key "
                    "fingerprint (sha256:...)");
            }
            auto ep = net::parse_endpoint(fields[0]);
            if (!ep) return ep.error();
            TrackerEntry entry{*ep, line_number, {}};
            if (fields.size() == 2) {
                auto fingerprint = parse_fingerprint(fields[1]);
                if (!fingerprint) return fingerprint.error();
                entry.fingerprint = std::move(fingerprint).value();
            }
            entries.push_back(std::move(entry));
            return {};
        });
    if (!read) return read.error();
    if (entries.empty()) {
        return make_error(Errc::BadInput,
                          fmt::format("{} lists no tracker (expected lines like 127.0.0.1:5000)",
                                      path_for_errors));
    }
    return entries;
}

Result<std::vector<TrackerEntry>> read_tracker_info(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return make_error(Errc::Io, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_tracker_info(ss.str(), path);
}

// ---- KnownTrackers ----

Result<KnownTrackers> KnownTrackers::parse(std::string_view text, std::string path) {
    KnownTrackers known;
    known.path_ = std::move(path);
    auto lines =
        read_fields(text, known.path_, "; fix or delete that line",
                    [&](const Fields& fields, int line_number) -> Status {
                        if (fields.size() != 2)
                            return bad_input("expected IP:PORT sha256:FINGERPRINT");
                        auto ep = net::parse_endpoint(fields[0], /*allow_port_zero=*/false);
                        if (!ep) return ep.error();
                        auto fingerprint = parse_fingerprint(fields[1]);
                        if (!fingerprint) return fingerprint.error();
                        known.pins_.push_back(
                            Pin{ep->to_string(), std::move(fingerprint).value(), line_number});
                        return {};
                    });
    if (!lines) return lines.error();
    known.lines_ = *lines;
    return known;
}

Result<KnownTrackers> KnownTrackers::load(std::string path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return parse("", std::move(path));
        return make_error(Errc::Io, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), std::move(path));
}

const KnownTrackers::Pin* KnownTrackers::find(std::string_view address) const {
    for (const auto& pin : pins_) {
        if (pin.address == address) return &pin;
    }
    return nullptr;
}

Status KnownTrackers::add(const std::string& address, const std::string& fingerprint) {
    auto io = [&](std::string_view what) {
        return make_error(Errc::Io,
                          fmt::format("cannot {} {}: {}", what, path_, std::strerror(errno)));
    };
    int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return io("open");
    // A line typed by hand may lack its newline; ours must not join it.
    std::string line = fmt::format("{} {}\n", address, fingerprint);
    struct stat st {};
    char last = '\n';
    if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 &&
        last != '\n') {
        line.insert(0, "\n");
    }
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    int saved = errno;
    ::close(fd);
    errno = saved;
    if (!ok) return io("write");
    pins_.push_back(Pin{address, fingerprint, ++lines_});
    return {};
}

}  // namespace gs
