// SHA1 (OpenSSL EVP) for piece checks and info hashes (BEP 3), and whole-file piece hashing that
// keeps every core busy with bounded memory. Pure functions, callable from any thread; the
// whole-file hash is slow work and belongs on a worker, not the reactor (docs/ARCHITECTURE.md).
#pragma once

#include "shared/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace gs {

using Sha1Digest = std::array<std::uint8_t, 20>;

Sha1Digest sha1(std::span<const std::byte> bytes);
Sha1Digest sha1(std::string_view bytes);

std::string to_hex(const Sha1Digest& digest);  // 40 lowercase hex digits
std::string to_hex(std::string_view bytes);
// The value of one hex digit (either case), or -1 for any other character.
int hex_digit_value(char c);
// 40 hex digits (either case) -> digest; anything else is BadInput.
Result<Sha1Digest> from_hex(std::string_view hex);

std::string digest_bytes(const Sha1Digest& digest);  // the 20 raw bytes as a string
// 20 raw bytes -> digest; any other length is BadInput.
Result<Sha1Digest> digest_from_bytes(std::string_view raw);

// Called with (bytes hashed so far, file size). Calls are serialised (never concurrent) but come
// from the hashing threads, at most once per chunk of a few MiB.
using HashProgress = std::function<void(std::int64_t done_bytes, std::int64_t total_bytes)>;

// The concatenated 20-byte SHA1s of each `piece_length` piece of the regular file at `path` (the
// last piece may be short; an empty file gives ""). `threads` threads (0: one per core) each
// claim chunks of whole pieces and pread() them into their own reusable buffer, so memory stays
// a few MiB per thread whatever the file size. `length_out`, when given, receives the size the
// pieces describe. Io error when the file cannot be read or changes size while being read.
Result<std::string> hash_file_pieces(const std::string& path, std::int64_t piece_length,
                                     unsigned threads, const HashProgress& progress = {},
                                     std::int64_t* length_out = nullptr);

}  // namespace gs
