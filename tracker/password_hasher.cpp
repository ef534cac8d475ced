#include "tracker/password_hasher.hpp"

#include "shared/worker_pool.hpp"

#include <sodium.h>

namespace gs::tracker {
namespace {

std::string hash_password(const std::string& password) {
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return {};  // out of memory
    }
    return out;
}

bool verify_password(const std::string& hash, const std::string& password) {
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace

Argon2Hasher::Argon2Hasher(WorkerPool& workers) : workers_(workers) {
    unsigned char random[16];
    randombytes_buf(random, sizeof random);
    dummy_hash_ = hash_password(std::string(reinterpret_cast<char*>(random), sizeof random));
}

void Argon2Hasher::hash(std::string password, std::function<void(std::string hash)> done) {
    workers_.submit([pw = std::move(password)] { return hash_password(pw); }, std::move(done));
}

void Argon2Hasher::verify(std::optional<std::string> hash, std::string password,
                          std::function<void(bool verified)> done) {
    const bool known = hash.has_value();
    workers_.submit([known, hash = known ? std::move(*hash) : dummy_hash_,
                     pw = std::move(password)] { return verify_password(hash, pw) && known; },
                    std::move(done));
}

}  // namespace gs::tracker
