// The sealed peer channel's cryptography (docs/protocol.md §2.1, SECURITY.md): the Noise
// protocol framework's XK handshake over X25519 and SHA-256, then AES-256-GCM (on CPUs with
// AES instructions) or ChaCha20-Poly1305 for the records. Everything here follows the Noise
// specification (revision 34): HKDF, MixKey, MixHash, EncryptAndHash, Split and Rekey are its
// functions, built from established primitives only — X25519 and HMAC-SHA-256 from libsodium,
// the AEADs from OpenSSL (whose AES-GCM uses AES-NI, VAES and carry-less multiply when the CPU
// has them). Pure values and functions, any thread; one object per connection.
//
// XK, with I the downloader (initiator) and R the seeder (responder), whose static key I learnt
// from the tracker:
//     <- s
//     -> e, es          message 1, 56 bytes: preamble (8), e (32), tag (16)
//     <- e, ee          message 2, 48 bytes: e (32), tag (16)
//     -> s, se          message 3, 64 bytes: encrypted s (48), tag (16)
// After message 2 the initiator knows it talks to the holder of the static key it expected;
// after message 3 the responder knows the initiator's static key, which its ticket must name.
#pragma once

#include "shared/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_cipher_ctx_st;

namespace gs::peer::seal {

inline constexpr std::size_t kKeyBytes = 32;  // X25519 keys, AEAD keys, SHA-256 hashes
inline constexpr std::size_t kTagBytes = 16;
using Key = std::array<std::uint8_t, kKeyBytes>;

// The first bytes of a sealed connection: "gs-seal" and the cipher's letter. A BEP 3 handshake
// starts with byte 19, so one byte tells the two apart.
inline constexpr std::string_view kPreambleStem = "gs-seal";
inline constexpr std::size_t kPreambleBytes = 8;
inline constexpr std::size_t kMessage1Bytes = kPreambleBytes + kKeyBytes + kTagBytes;  // 56
inline constexpr std::size_t kMessage2Bytes = kKeyBytes + kTagBytes;                   // 48
inline constexpr std::size_t kMessage3Bytes = kKeyBytes + 2 * kTagBytes;               // 64

enum class Cipher : char { AesGcm = 'A', ChaChaPoly = 'C' };
// AES-256-GCM when this CPU has AES instructions, else ChaCha20-Poly1305. The initiator picks;
// a responder speaks both.
Cipher preferred_cipher();
std::string_view cipher_name(Cipher cipher);

// A peer's long-term X25519 key pair. A client makes one when it starts and tells the tracker
// the public half at login; the tracker hands it to downloaders with the client's address and
// names it in the tickets it issues to the client.
struct KeyPair {
    Key secret{};
    Key public_key{};
    static KeyPair generate();
    static KeyPair from_secret(const Key& secret);
};

std::string to_hex(const Key& key);
Result<Key> key_from_hex(std::string_view hex);  // 64 hex digits
std::string_view as_bytes(const Key& key);

// One direction's AEAD key and nonce counter (Noise CipherState). Nonces are the counter, never
// reused; the key is replaced by Rekey() every kRekeyInterval records, on both sides at the same
// record, so no AEAD key ever protects more than kRekeyInterval records.
class CipherState {
public:
    static constexpr std::uint64_t kRekeyInterval = 1u << 16;

    CipherState();
    ~CipherState();
    CipherState(CipherState&&) noexcept;
    CipherState& operator=(CipherState&&) noexcept;
    CipherState(const CipherState&) = delete;
    CipherState& operator=(const CipherState&) = delete;

    void initialize(Cipher cipher, const Key& key);
    bool has_key() const { return has_key_; }
    std::uint64_t nonce() const { return nonce_; }

    // Encrypts `len` bytes from `in` to `out` (the same place is fine) and writes the tag to
    // `tag`; `ad` is authenticated too.
    void encrypt(std::string_view ad, const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                 std::uint8_t* tag);
    // Decrypts likewise; false (and the nonce not used up) if the tag does not verify, in which
    // case `out` holds garbage.
    bool decrypt(std::string_view ad, const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                 const std::uint8_t* tag);
    // For transport records: no associated data, and the key is rotated at the interval.
    void encrypt_record(const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                        std::uint8_t* tag);
    bool decrypt_record(const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                        const std::uint8_t* tag);

private:
    void set_key(const Key& key);
    void rekey();
    void make_nonce(std::uint64_t n, std::uint8_t out[12]) const;

    Cipher cipher_ = Cipher::AesGcm;
    Key key_{};
    bool has_key_ = false;
    std::uint64_t nonce_ = 0;
    evp_cipher_ctx_st* enc_ = nullptr;
    evp_cipher_ctx_st* dec_ = nullptr;
};

// The two directions after the handshake, and the handshake hash that names this channel.
struct Transport {
    CipherState send;
    CipherState receive;
    Key handshake_hash{};
    Key remote_static{};  // the responder: the initiator's static key, proven by message 3
};

// The XK handshake of one side. Initiator: write_message1, read_message2, write_message3.
// Responder: read_message1, write_message2, read_message3. Each read fails with a Protocol error
// that says which message did not check out; the caller drops the connection.
class Handshake {
public:
    static Handshake initiator(const KeyPair& local, const Key& remote_static, Cipher cipher);
    static Handshake responder(const KeyPair& local);

    std::string write_message1();
    Status read_message1(std::string_view msg);  // exactly kMessage1Bytes
    std::string write_message2();
    Status read_message2(std::string_view msg);  // exactly kMessage2Bytes
    std::string write_message3();
    Status read_message3(std::string_view msg);  // exactly kMessage3Bytes

    // After message 3 (written or read).
    Transport split();
    Cipher cipher() const { return cipher_; }

    // ---- For tests only (tests/unit/seal_vectors_test.cpp checks this code against the Noise
    // test vectors). Plain Noise XK: `prologue` in place of the preamble, none on message 1, and
    // a payload in each message. `message` is 1, 2 or 3, in turn; the read gives the payload.
    // The functions above are these with the preamble as prologue and empty payloads.
    static Handshake for_test(bool initiator, const KeyPair& local, const Key& remote_static,
                              Cipher cipher, std::string_view prologue);
    std::string write_for_test(int message, std::string_view payload);
    Result<std::string> read_for_test(int message, std::string_view msg);
    // Use this ephemeral key instead of a fresh random one.
    void set_ephemeral_for_test(const KeyPair& e) { e_ = e; }

private:
    Handshake(const KeyPair& local, bool initiator);
    void start(Cipher cipher, std::string_view prologue, const Key& responder_static);
    // XK's three messages after the preamble: tokens, then the encrypted payload.
    void write_e_es(std::string_view payload, std::string& out);
    Status read_e_es(std::string_view msg, std::string& payload);
    void write_e_ee(std::string_view payload, std::string& out);
    Status read_e_ee(std::string_view msg, std::string& payload);
    void write_s_se(std::string_view payload, std::string& out);
    Status read_s_se(std::string_view msg, std::string& payload);
    void mix_hash(std::string_view data);
    void mix_key(const Key& input);
    Result<Key> dh(const Key& secret, const Key& their_public) const;
    void encrypt_and_hash(std::string_view plain, std::string& out);
    Status decrypt_and_hash(std::string_view cipher_text, std::string& plain);

    bool initiator_ = false;
    Cipher cipher_ = Cipher::AesGcm;
    KeyPair s_;
    std::optional<KeyPair> e_;
    Key rs_{};
    Key re_{};
    Key h_{};
    Key ck_{};
    CipherState cs_;
};

}  // namespace gs::peer::seal
