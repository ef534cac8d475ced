// libFuzzer target: the sealed peer channel (peer/seal/channel.hpp), as a seeder's connection
// reads it — bytes arrive in chunks and Channel::receive() takes handshake messages and records
// from the front of its wire buffer. The keys are fixed and the ephemeral keys come from a
// deterministic randombytes implementation restarted for every input, so an input replays the
// same handshake and records.
//
// Input: byte 0 picks the mode (bits 0-1), the cipher (bit 2) and the seeder's record cap (bits
// 3-7: 0 is kMaxRecordBytes, else that many times 8 bytes); bytes 1-3 seed the chunk sizes.
// Modes, for the rest of the input:
//   0  everything to a fresh seeder: the greeting check and message 1;
//   1  a real message 1 first, then the rest: message 3 and what follows;
//   2  a whole real handshake first, then the rest as raw records;
//   3  a whole real handshake (with bytes sealed before it), then operations: records sealed
//      either way (and read back), a new cap, and last a sealed record with one bit flipped or
//      raw bytes to either side.
// Checks: a real handshake completes with both sides agreeing on its hash and the seeder on the
// downloader's key; every sealed record reads back to its plaintext in order; a record over the
// cap is refused; a record with a flipped bit never yields its plaintext; every refusal is a
// Protocol error with a message. Any mismatch aborts.
#include "peer/seal/channel.hpp"
#include "shared/net/buffer.hpp"
#include "shared/result.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace gs;
using namespace gs::peer::seal;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "seal_fuzz: %s\n", what);
    std::abort();
}

// ---- deterministic randomness (the only randomness here is ephemeral keys)

std::uint64_t g_draws = 0;

void fixed_buf(void* const buf, const std::size_t size) {
    unsigned char seed[randombytes_SEEDBYTES] = {'s', 'e', 'a', 'l'};
    std::memcpy(seed + 8, &g_draws, sizeof g_draws);
    ++g_draws;
    randombytes_buf_deterministic(buf, size, seed);
}

std::uint32_t fixed_random() {
    std::uint32_t r = 0;
    fixed_buf(&r, sizeof r);
    return r;
}

const char* fixed_name() {
    return "seal_fuzz fixed";
}

randombytes_implementation g_fixed_random = {fixed_name, fixed_random, nullptr,
                                             nullptr,    fixed_buf,    nullptr};

KeyPair fixed_key(std::uint8_t fill) {
    Key secret{};
    secret.fill(fill);
    return KeyPair::from_secret(secret);
}

// ---- chunked feeding

struct Chunks {
    std::uint32_t state;
    std::size_t next() {  // 1..64 bytes, like short reads from a socket
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return 1 + state % 64;
    }
};

// One side of a connection: its Channel, the bytes it has not taken yet, its plaintext and what
// it writes.
struct End {
    Channel channel;
    net::Buffer wire, plain, out;
};

void check_refusal(const Status& s) {
    if (s) return;
    if (s.error().code != Errc::Protocol) fail("a refusal that is not a Protocol error");
    if (s.error().message.empty()) fail("a refusal without a message");
}

// Hands `bytes` to `end` in chunks, calling receive() after each; stops at the first refusal.
Status feed(End& end, Chunks& chunks, std::string_view bytes) {
    while (!bytes.empty()) {
        const std::size_t n = std::min(chunks.next(), bytes.size());
        end.wire.append(bytes.substr(0, n));
        bytes.remove_prefix(n);
        Status s = end.channel.receive(end.wire, end.plain, end.out);
        check_refusal(s);
        if (!s) return s;
    }
    return {};
}

// Moves what `from` wrote to `to`.
Status deliver(End& from, End& to, Chunks& chunks) {
    const std::string bytes(from.out.view());
    from.out.clear();
    return feed(to, chunks, bytes);
}

// The handshake between the two, message by message; every step must succeed.
void shake(End& downloader, End& seeder, const KeyPair& downloader_key, Chunks& chunks) {
    downloader.out.append(downloader.channel.start());
    if (!deliver(downloader, seeder, chunks)) fail("message 1 was refused");
    if (seeder.out.size() != kMessage2Bytes) fail("no message 2 after message 1");
    if (!deliver(seeder, downloader, chunks)) fail("message 2 was refused");
    if (!downloader.channel.established()) fail("the downloader is not done after message 2");
    if (!deliver(downloader, seeder, chunks)) fail("message 3 was refused");
    if (!seeder.channel.established()) fail("the seeder is not done after message 3");
    if (seeder.channel.handshake_hash() != downloader.channel.handshake_hash()) {
        fail("the two sides' handshake hashes differ");
    }
    if (seeder.channel.remote_static() != downloader_key.public_key) {
        fail("the seeder learnt another key than the downloader's");
    }
}

std::uint32_t u16(std::string_view b, std::size_t at) {
    return at + 1 < b.size() ? (std::uint32_t{static_cast<unsigned char>(b[at])} << 8) |
                                   static_cast<unsigned char>(b[at + 1])
                             : 0;
}

// Mode 3: operations on an established channel. Each is an opcode byte, a length byte and that
// many bytes (fewer at the end of the input). Each side's plaintext is checked and cleared after
// every record, and the large records are rationed, so that no input runs out of memory or time.
void run_operations(End& downloader, End& seeder, Chunks& chunks, std::string_view ops) {
    std::size_t large_left = 1024 * 1024;
    while (ops.size() >= 2) {
        const auto op = static_cast<unsigned char>(ops[0]);
        const std::size_t len =
            std::min<std::size_t>(static_cast<unsigned char>(ops[1]), ops.size() - 2);
        const std::string_view arg = ops.substr(2, len);
        ops.remove_prefix(2 + len);
        switch (op % 6) {
            case 0: {  // the downloader seals `arg`, and up to 3 x 128 KiB more (two records)
                std::string plain(arg);
                const std::size_t more =
                    std::min<std::size_t>((op >> 3) % 4 * 128 * 1024, large_left);
                large_left -= more;
                plain.append(more, 'p');
                downloader.channel.seal(plain, downloader.out);
                const bool over_cap =
                    std::min(plain.size(), kMaxRecordBytes) > seeder.channel.max_record();
                Status s = deliver(downloader, seeder, chunks);
                if (over_cap) {
                    if (s) fail("a record over the cap was taken");
                    return;
                }
                if (!s) fail("a sealed record was refused");
                if (seeder.plain.view() != plain) fail("the seeder read other bytes");
                if (!seeder.wire.empty()) fail("the seeder left bytes of whole records");
                seeder.plain.clear();
                break;
            }
            case 1: {  // the seeder fills a record in place
                char* body = seeder.channel.begin_record(seeder.out, arg.size());
                std::memcpy(body, arg.data(), arg.size());
                seeder.channel.end_record(seeder.out, arg.size());
                if (!deliver(seeder, downloader, chunks)) fail("a sealed record was refused");
                if (downloader.plain.view() != arg) fail("the downloader read other bytes");
                downloader.plain.clear();
                break;
            }
            case 2: {  // a sealed record with one bit flipped: never its plaintext
                downloader.channel.seal(arg, downloader.out);
                if (arg.empty()) downloader.channel.seal("x", downloader.out);
                std::string bytes(downloader.out.view());
                downloader.out.clear();
                const std::size_t at = u16(arg, 0) % bytes.size();
                bytes[at] = static_cast<char>(bytes[at] ^ (1u << (op >> 3) % 8));
                Status s = feed(seeder, chunks, bytes);
                if (!seeder.plain.empty()) fail("an altered record gave plaintext");
                // Refused, or (a longer length in its header) still waited for.
                if (s && seeder.wire.empty()) fail("an altered record was taken");
                return;
            }
            // Raw bytes end the operations: a part of a record left waiting, or a record the
            // input replayed, would throw the sealed records after them out of step.
            case 3: (void)feed(seeder, chunks, arg); return;
            case 4: (void)feed(downloader, chunks, arg); return;
            case 5:  // a new cap on the seeder's records
                seeder.channel.set_max_record(u16(arg, 0) % (kMaxRecordBytes + 1));
                break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Before anything starts libsodium: its generator is chosen at sodium_init().
    if (randombytes_set_implementation(&g_fixed_random) != 0) fail("randombytes");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    g_draws = 0;
    const unsigned mode = data[0] & 3;
    const Cipher cipher = (data[0] & 4) != 0 ? Cipher::ChaChaPoly : Cipher::AesGcm;
    const std::size_t cap = (data[0] >> 3) == 0 ? kMaxRecordBytes : (std::size_t{data[0]} >> 3) * 8;
    Chunks chunks{((std::uint32_t{data[1]} << 16) | (std::uint32_t{data[2]} << 8) | data[3]) | 1};
    const std::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);

    static const KeyPair seeder_key = fixed_key(0x5e);
    static const KeyPair downloader_key = fixed_key(0xd0);
    End seeder{Channel::responder(seeder_key), {}, {}, {}};
    End downloader{Channel::initiator(downloader_key, seeder_key.public_key, cipher), {}, {}, {}};

    switch (mode) {
        case 0: (void)feed(seeder, chunks, rest); break;
        case 1:
            downloader.out.append(downloader.channel.start());
            if (!deliver(downloader, seeder, chunks)) fail("message 1 was refused");
            (void)feed(seeder, chunks, rest);
            break;
        case 2:
            shake(downloader, seeder, downloader_key, chunks);
            seeder.channel.set_max_record(cap);
            (void)feed(seeder, chunks, rest);
            break;
        case 3: {
            const std::string_view early = "sealed before the handshake";
            downloader.channel.seal(early, downloader.out);
            if (!downloader.out.empty()) fail("bytes went out before the handshake");
            shake(downloader, seeder, downloader_key, chunks);
            // The early bytes went out with message 3 and were read with it.
            if (seeder.plain.view() != early) fail("the early bytes did not arrive");
            seeder.plain.clear();
            seeder.channel.set_max_record(cap);
            run_operations(downloader, seeder, chunks, rest);
            break;
        }
    }
    // Plaintext only ever comes after the handshake.
    if (!seeder.channel.established() && !seeder.plain.empty()) fail("plaintext before the end");
    return 0;
}
