// Bitfield: which pieces of a file someone has, in BEP 3 bit order (the high bit of byte 0 is
// piece 0; spare bits at the end are zero). A plain value type, any thread.
#pragma once

#include "shared/result.hpp"

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gs {

class Bitfield {
public:
    Bitfield() = default;
    explicit Bitfield(std::size_t bits) : bits_(bits), bytes_((bits + 7) / 8, 0) {}

    std::size_t size() const { return bits_; }
    bool has(std::size_t i) const {
        assert(i < bits_);
        return ((bytes_[i / 8] >> (7 - i % 8)) & 1) != 0;
    }
    void set(std::size_t i);
    void reset(std::size_t i);
    void set_all();
    std::size_t count() const { return count_; }
    bool all() const { return count_ == bits_; }
    bool none() const { return count_ == 0; }

    // The BEP 3 wire form: ceil(size/8) bytes, spare bits zero.
    std::string to_bytes() const;
    // Rejects a length other than ceil(bits/8) and set spare bits (BEP 3 says a peer sending
    // either should be dropped).
    static Result<Bitfield> from_bytes(std::string_view bytes, std::size_t bits);

    bool operator==(const Bitfield& other) const {
        return bits_ == other.bits_ && bytes_ == other.bytes_;
    }

private:
    std::size_t bits_ = 0;
    std::size_t count_ = 0;
    std::vector<std::uint8_t> bytes_;
};

}  // namespace gs
