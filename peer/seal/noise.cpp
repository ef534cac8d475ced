#include "peer/seal/noise.hpp"

#include "shared/sha1.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace gs::peer::seal {

namespace {

constexpr std::string_view kNameAes = "Noise_XK_25519_AESGCM_SHA256";
constexpr std::string_view kNameChaCha = "Noise_XK_25519_ChaChaPoly_SHA256";

[[noreturn]] void crypto_failed(const char* what) {
    // Only allocation failures inside OpenSSL end here: nothing a peer sends can cause it.
    std::fprintf(stderr, "fatal: %s failed in the sealed channel\n", what);
    std::abort();
}

void ensure_sodium() {
    static const bool ready = sodium_init() >= 0;
    if (!ready) crypto_failed("sodium_init");
}

Key hmac(const Key& key, std::string_view a, std::string_view b = {}) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.data(), key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(a.data()), a.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(b.data()), b.size());
    Key out{};
    crypto_auth_hmacsha256_final(&st, out.data());
    return out;
}

// Noise HKDF with two outputs (specification §4.3).
std::pair<Key, Key> hkdf2(const Key& chaining_key, std::string_view input) {
    const Key temp = hmac(chaining_key, input);
    const Key out1 = hmac(temp, "\x01");
    const Key out2 = hmac(temp, as_bytes(out1), "\x02");
    return {out1, out2};
}

const EVP_CIPHER* evp_cipher(Cipher c) {
    return c == Cipher::AesGcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

// The first 8 bytes of message 1, and the handshake's prologue.
std::string preamble(Cipher cipher) {
    std::string p(kPreambleStem);
    p += static_cast<char>(cipher);
    return p;
}

}  // namespace

Cipher preferred_cipher() {
    ensure_sodium();
    return crypto_aead_aes256gcm_is_available() != 0 ? Cipher::AesGcm : Cipher::ChaChaPoly;
}

std::string_view cipher_name(Cipher cipher) {
    return cipher == Cipher::AesGcm ? "AES-256-GCM" : "ChaCha20-Poly1305";
}

KeyPair KeyPair::generate() {
    ensure_sodium();
    Key secret{};
    randombytes_buf(secret.data(), secret.size());
    return from_secret(secret);
}

KeyPair KeyPair::from_secret(const Key& secret) {
    ensure_sodium();
    KeyPair kp;
    kp.secret = secret;
    crypto_scalarmult_curve25519_base(kp.public_key.data(), kp.secret.data());
    return kp;
}

std::string_view as_bytes(const Key& key) {
    return {reinterpret_cast<const char*>(key.data()), key.size()};
}

std::string to_hex(const Key& key) {
    return gs::to_hex(as_bytes(key));
}

Result<Key> key_from_hex(std::string_view hex) {
    if (hex.size() != 2 * kKeyBytes) {
        return make_error(Errc::BadInput, "a peer key is 64 hex digits");
    }
    Key key{};
    for (std::size_t i = 0; i < kKeyBytes; ++i) {
        auto digit = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        const int hi = digit(hex[2 * i]);
        const int lo = digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return make_error(Errc::BadInput, "a peer key is 64 hex digits");
        key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return key;
}

// --- CipherState

CipherState::CipherState() = default;

CipherState::~CipherState() {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    sodium_memzero(key_.data(), key_.size());
}

CipherState::CipherState(CipherState&& o) noexcept
    : cipher_(o.cipher_),
      key_(o.key_),
      has_key_(o.has_key_),
      nonce_(o.nonce_),
      enc_(std::exchange(o.enc_, nullptr)),
      dec_(std::exchange(o.dec_, nullptr)) {
    o.has_key_ = false;
}

CipherState& CipherState::operator=(CipherState&& o) noexcept {
    if (this == &o) return *this;
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    cipher_ = o.cipher_;
    key_ = o.key_;
    has_key_ = std::exchange(o.has_key_, false);
    nonce_ = o.nonce_;
    enc_ = std::exchange(o.enc_, nullptr);
    dec_ = std::exchange(o.dec_, nullptr);
    return *this;
}

void CipherState::initialize(Cipher cipher, const Key& key) {
    cipher_ = cipher;
    nonce_ = 0;
    set_key(key);
}

void CipherState::set_key(const Key& key) {
    key_ = key;
    has_key_ = true;
    if (enc_ == nullptr) enc_ = EVP_CIPHER_CTX_new();
    if (dec_ == nullptr) dec_ = EVP_CIPHER_CTX_new();
    if (enc_ == nullptr || dec_ == nullptr) crypto_failed("EVP_CIPHER_CTX_new");
    // The key is set up once here; each record only sets its nonce.
    if (EVP_EncryptInit_ex(enc_, evp_cipher(cipher_), nullptr, key_.data(), nullptr) != 1 ||
        EVP_DecryptInit_ex(dec_, evp_cipher(cipher_), nullptr, key_.data(), nullptr) != 1) {
        crypto_failed("EVP_CipherInit");
    }
}

void CipherState::make_nonce(std::uint64_t n, std::uint8_t out[12]) const {
    // Noise §12: 32 zero bits, then the counter: big-endian for AES-GCM, little-endian for
    // ChaCha20-Poly1305.
    std::memset(out, 0, 4);
    for (int i = 0; i < 8; ++i) {
        const int shift = cipher_ == Cipher::AesGcm ? 8 * (7 - i) : 8 * i;
        out[4 + i] = static_cast<std::uint8_t>(n >> shift);
    }
}

void CipherState::encrypt(std::string_view ad, const std::uint8_t* in, std::uint8_t* out,
                          std::size_t len, std::uint8_t* tag) {
    assert(has_key_ && nonce_ != UINT64_MAX);
    std::uint8_t iv[12];
    make_nonce(nonce_, iv);
    int out_len = 0;
    if (EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, iv) != 1 ||
        (!ad.empty() && EVP_EncryptUpdate(enc_, nullptr, &out_len,
                                          reinterpret_cast<const unsigned char*>(ad.data()),
                                          static_cast<int>(ad.size())) != 1) ||
        (len > 0 && EVP_EncryptUpdate(enc_, out, &out_len, in, static_cast<int>(len)) != 1) ||
        EVP_EncryptFinal_ex(enc_, out + len, &out_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), tag) != 1) {
        crypto_failed("encryption");
    }
    ++nonce_;
}

bool CipherState::decrypt(std::string_view ad, const std::uint8_t* in, std::uint8_t* out,
                          std::size_t len, const std::uint8_t* tag) {
    assert(has_key_);
    if (nonce_ == UINT64_MAX) return false;
    std::uint8_t iv[12];
    make_nonce(nonce_, iv);
    int out_len = 0;
    std::uint8_t tag_copy[kTagBytes];
    std::memcpy(tag_copy, tag, kTagBytes);
    if (EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, iv) != 1 ||
        (!ad.empty() && EVP_DecryptUpdate(dec_, nullptr, &out_len,
                                          reinterpret_cast<const unsigned char*>(ad.data()),
                                          static_cast<int>(ad.size())) != 1) ||
        (len > 0 && EVP_DecryptUpdate(dec_, out, &out_len, in, static_cast<int>(len)) != 1) ||
        EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes), tag_copy) !=
            1) {
        crypto_failed("decryption");
    }
    if (EVP_DecryptFinal_ex(dec_, out + len, &out_len) != 1) return false;
    ++nonce_;
    return true;
}

void CipherState::rekey() {
    // Noise §4.2: the new key is the first 32 bytes of encrypting 32 zero bytes with the
    // largest nonce.
    std::uint8_t iv[12];
    make_nonce(UINT64_MAX, iv);
    std::uint8_t block[kKeyBytes] = {};
    std::uint8_t tag[kTagBytes];
    int out_len = 0;
    if (EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, iv) != 1 ||
        EVP_EncryptUpdate(enc_, block, &out_len, block, sizeof block) != 1 ||
        EVP_EncryptFinal_ex(enc_, block + sizeof block, &out_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), tag) != 1) {
        crypto_failed("rekey");
    }
    Key next{};
    std::memcpy(next.data(), block, next.size());
    set_key(next);
    sodium_memzero(block, sizeof block);
}

void CipherState::encrypt_record(const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                                 std::uint8_t* tag) {
    encrypt({}, in, out, len, tag);
    if (nonce_ % kRekeyInterval == 0) rekey();
}

bool CipherState::decrypt_record(const std::uint8_t* in, std::uint8_t* out, std::size_t len,
                                 const std::uint8_t* tag) {
    if (!decrypt({}, in, out, len, tag)) return false;
    if (nonce_ % kRekeyInterval == 0) rekey();
    return true;
}

// --- Handshake

Handshake::Handshake(const KeyPair& local, bool initiator) : initiator_(initiator), s_(local) {
    ensure_sodium();
}

Handshake Handshake::initiator(const KeyPair& local, const Key& remote_static, Cipher cipher) {
    Handshake hs(local, true);
    hs.rs_ = remote_static;
    // The prologue: the preamble, so that a cipher changed on the wire breaks the handshake.
    hs.start(cipher, preamble(cipher), remote_static);
    return hs;
}

Handshake Handshake::responder(const KeyPair& local) {
    return Handshake(local, false);
}

void Handshake::start(Cipher cipher, std::string_view prologue, const Key& responder_static) {
    cipher_ = cipher;
    const std::string_view name = cipher == Cipher::AesGcm ? kNameAes : kNameChaCha;
    h_ = {};
    static_assert(kNameChaCha.size() <= kKeyBytes);
    std::memcpy(h_.data(), name.data(), name.size());
    ck_ = h_;
    mix_hash(prologue);
    mix_hash(as_bytes(responder_static));  // the pre-message "<- s"
}

void Handshake::mix_hash(std::string_view data) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h_.data(), h_.size());
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(data.data()),
                              data.size());
    crypto_hash_sha256_final(&st, h_.data());
}

void Handshake::mix_key(const Key& input) {
    auto [ck, k] = hkdf2(ck_, as_bytes(input));
    ck_ = ck;
    cs_.initialize(cipher_, k);
}

Result<Key> Handshake::dh(const Key& secret, const Key& their_public) const {
    Key out{};
    if (crypto_scalarmult_curve25519(out.data(), secret.data(), their_public.data()) != 0) {
        return make_error(Errc::Protocol, "sealed handshake: the peer sent a weak public key");
    }
    return out;
}

void Handshake::encrypt_and_hash(std::string_view plain, std::string& out) {
    const std::size_t at = out.size();
    out.append(plain);
    out.append(kTagBytes, '\0');
    auto* p = reinterpret_cast<std::uint8_t*>(out.data() + at);
    cs_.encrypt(as_bytes(h_), p, p, plain.size(), p + plain.size());
    mix_hash(std::string_view(out).substr(at));
}

Status Handshake::decrypt_and_hash(std::string_view cipher_text, std::string& plain) {
    assert(cipher_text.size() >= kTagBytes);
    const std::size_t len = cipher_text.size() - kTagBytes;
    plain.assign(cipher_text.substr(0, len));
    auto* p = reinterpret_cast<std::uint8_t*>(plain.data());
    if (!cs_.decrypt(as_bytes(h_), p, p, len,
                     reinterpret_cast<const std::uint8_t*>(cipher_text.data() + len))) {
        return make_error(Errc::Protocol, "");
    }
    mix_hash(cipher_text);
    return {};
}

// -> e, es
void Handshake::write_e_es(std::string_view payload, std::string& out) {
    assert(initiator_);
    if (!e_) e_ = KeyPair::generate();
    out.append(as_bytes(e_->public_key));
    mix_hash(as_bytes(e_->public_key));
    auto es = dh(e_->secret, rs_);
    // rs_ came from the tracker; a weak key there is no secret, but then nothing is either.
    mix_key(es ? *es : Key{});
    encrypt_and_hash(payload, out);
}

Status Handshake::read_e_es(std::string_view msg, std::string& payload) {
    assert(!initiator_ && msg.size() >= kKeyBytes + kTagBytes);
    std::memcpy(re_.data(), msg.data(), kKeyBytes);
    mix_hash(as_bytes(re_));
    auto es = dh(s_.secret, re_);
    if (!es) return es.error();
    mix_key(*es);
    if (!decrypt_and_hash(msg.substr(kKeyBytes), payload)) {
        return make_error(Errc::Protocol,
                          "sealed handshake: message 1 is not for our key (the peer was given "
                          "another key for this address)");
    }
    return {};
}

// <- e, ee
void Handshake::write_e_ee(std::string_view payload, std::string& out) {
    assert(!initiator_);
    if (!e_) e_ = KeyPair::generate();
    out.append(as_bytes(e_->public_key));
    mix_hash(as_bytes(e_->public_key));
    auto ee = dh(e_->secret, re_);
    mix_key(ee ? *ee : Key{});  // re_ was checked by the es exchange in read_e_es
    encrypt_and_hash(payload, out);
}

Status Handshake::read_e_ee(std::string_view msg, std::string& payload) {
    assert(initiator_ && msg.size() >= kKeyBytes + kTagBytes);
    std::memcpy(re_.data(), msg.data(), kKeyBytes);
    mix_hash(as_bytes(re_));
    auto ee = dh(e_->secret, re_);
    if (!ee) return ee.error();
    mix_key(*ee);
    if (!decrypt_and_hash(msg.substr(kKeyBytes), payload)) {
        return make_error(Errc::Protocol,
                          "sealed handshake: the peer does not hold the key the tracker gave "
                          "for it");
    }
    return {};
}

// -> s, se
void Handshake::write_s_se(std::string_view payload, std::string& out) {
    assert(initiator_);
    encrypt_and_hash(as_bytes(s_.public_key), out);
    auto se = dh(s_.secret, re_);
    mix_key(se ? *se : Key{});  // re_ was checked in read_e_ee
    encrypt_and_hash(payload, out);
}

Status Handshake::read_s_se(std::string_view msg, std::string& payload) {
    assert(!initiator_ && msg.size() >= kKeyBytes + 2 * kTagBytes);
    std::string s;
    if (!decrypt_and_hash(msg.substr(0, kKeyBytes + kTagBytes), s)) {
        return make_error(Errc::Protocol,
                          "sealed handshake: message 3 did not authenticate (a replayed or "
                          "altered handshake)");
    }
    std::memcpy(rs_.data(), s.data(), kKeyBytes);
    auto se = dh(e_->secret, rs_);
    if (!se) return se.error();
    mix_key(*se);
    if (!decrypt_and_hash(msg.substr(kKeyBytes + kTagBytes), payload)) {
        return make_error(Errc::Protocol,
                          "sealed handshake: the peer does not hold the key it named");
    }
    return {};
}

std::string Handshake::write_message1() {
    std::string out = preamble(cipher_);
    write_e_es({}, out);
    return out;
}

Status Handshake::read_message1(std::string_view msg) {
    assert(!initiator_ && msg.size() == kMessage1Bytes);
    if (msg.substr(0, kPreambleStem.size()) != kPreambleStem) {
        return make_error(Errc::Protocol, "not a sealed-channel greeting");
    }
    const char c = msg[kPreambleStem.size()];
    if (c != static_cast<char>(Cipher::AesGcm) && c != static_cast<char>(Cipher::ChaChaPoly)) {
        return make_error(Errc::Protocol, "sealed handshake: unknown cipher");
    }
    start(static_cast<Cipher>(c), msg.substr(0, kPreambleBytes), s_.public_key);
    std::string payload;  // empty: the message's size leaves no room for one
    return read_e_es(msg.substr(kPreambleBytes), payload);
}

std::string Handshake::write_message2() {
    std::string out;
    write_e_ee({}, out);
    return out;
}

Status Handshake::read_message2(std::string_view msg) {
    assert(msg.size() == kMessage2Bytes);
    std::string payload;
    return read_e_ee(msg, payload);
}

std::string Handshake::write_message3() {
    std::string out;
    write_s_se({}, out);
    return out;
}

Status Handshake::read_message3(std::string_view msg) {
    assert(msg.size() == kMessage3Bytes);
    std::string payload;
    return read_s_se(msg, payload);
}

// ---- For tests only.

Handshake Handshake::for_test(bool initiator, const KeyPair& local, const Key& remote_static,
                              Cipher cipher, std::string_view prologue) {
    Handshake hs(local, initiator);
    if (initiator) hs.rs_ = remote_static;
    hs.start(cipher, prologue, initiator ? remote_static : local.public_key);
    return hs;
}

std::string Handshake::write_for_test(int message, std::string_view payload) {
    std::string out;
    if (message == 1) write_e_es(payload, out);
    if (message == 2) write_e_ee(payload, out);
    if (message == 3) write_s_se(payload, out);
    return out;
}

Result<std::string> Handshake::read_for_test(int message, std::string_view msg) {
    const std::size_t least = (message == 3 ? kKeyBytes + 2 * kTagBytes : kKeyBytes + kTagBytes);
    if (msg.size() < least) return make_error(Errc::Protocol, "handshake message too short");
    std::string payload;
    Status s = message == 1   ? read_e_es(msg, payload)
               : message == 2 ? read_e_ee(msg, payload)
                              : read_s_se(msg, payload);
    if (!s) return s.error();
    return payload;
}

Transport Handshake::split() {
    auto [k1, k2] = hkdf2(ck_, {});
    Transport t;
    t.send.initialize(cipher_, initiator_ ? k1 : k2);
    t.receive.initialize(cipher_, initiator_ ? k2 : k1);
    t.handshake_hash = h_;
    t.remote_static = rs_;
    sodium_memzero(ck_.data(), ck_.size());
    sodium_memzero(k1.data(), k1.size());
    sodium_memzero(k2.data(), k2.size());
    if (e_) sodium_memzero(e_->secret.data(), e_->secret.size());
    return t;
}

}  // namespace gs::peer::seal
