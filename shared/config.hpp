// Client and tracker configuration files, parsed into plain values (any thread):
// - tracker_info.txt: one tracker per line as "IP:PORT", optionally followed by the fingerprint
//   of its TLS certificate, "IP:PORT sha256:HEX" (blank lines and '#' comments allowed).
// - known_trackers, in the client's data directory: the fingerprints pinned on first use, one
//   "IP:PORT sha256:HEX" per line, like SSH's known_hosts (docs/protocol.md §1.4).
#pragma once

#include "shared/net/socket.hpp"
#include "shared/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gs {

// A certificate fingerprint in its one written form: "sha256:" then 64 lowercase hex digits of
// SHA-256 over the DER certificate (docs/protocol.md §1.4).
inline constexpr std::string_view kFingerprintPrefix = "sha256:";

// Normalises what a user may paste ("sha256:" + hex in either case, bytes optionally separated
// by ':' as `openssl x509 -fingerprint` prints them) to the written form.
Result<std::string> parse_fingerprint(std::string_view text);
// The written form of a 32-byte SHA-256 digest.
std::string format_fingerprint(std::string_view digest);

// The words of one line, separated by spaces and tabs (config lines, commands typed at the
// prompt).
std::vector<std::string_view> split_fields(std::string_view line);

struct TrackerEntry {
    net::Endpoint endpoint;
    int line_number = 0;
    std::string fingerprint;  // pinned by the line's optional third field; empty if none
};

Result<std::vector<TrackerEntry>> read_tracker_info(const std::string& path);
Result<std::vector<TrackerEntry>> parse_tracker_info(std::string_view text,
                                                     const std::string& path_for_errors);

// The client's known_trackers file: read once at start-up, appended to when a tracker is first
// met. Reactor thread.
class KnownTrackers {
public:
    struct Pin {
        std::string address;  // "IP:PORT"
        std::string fingerprint;
        int line_number = 0;
    };

    // A missing file is an empty list; a malformed line is an error naming it.
    static Result<KnownTrackers> load(std::string path);
    static Result<KnownTrackers> parse(std::string_view text, std::string path);

    // The first pin for `address`, if any.
    const Pin* find(std::string_view address) const;
    // Appends "address fingerprint" to the file (created 0600 if missing) and to the list.
    Status add(const std::string& address, const std::string& fingerprint);

    const std::string& path() const { return path_; }
    const std::vector<Pin>& pins() const { return pins_; }

private:
    std::string path_;
    std::vector<Pin> pins_;
    int lines_ = 0;
};

}  // namespace gs
