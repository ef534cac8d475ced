#include "shared/bitfield.hpp"

#include <fmt/format.h>

#include <bit>

namespace gs {

void Bitfield::set(std::size_t i) {
    assert(i < bits_);
    auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
    if ((bytes_[i / 8] & mask) == 0) ++count_;
    bytes_[i / 8] |= mask;
}

void Bitfield::reset(std::size_t i) {
    assert(i < bits_);
    auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
    if ((bytes_[i / 8] & mask) != 0) --count_;
    bytes_[i / 8] &= static_cast<std::uint8_t>(~mask);
}

void Bitfield::set_all() {
    for (auto& b : bytes_) b = 0xff;
    if (bits_ % 8 != 0) bytes_.back() = static_cast<std::uint8_t>(0xff00u >> (bits_ % 8));
    count_ = bits_;
}

std::string Bitfield::to_bytes() const {
    return std::string(bytes_.begin(), bytes_.end());
}

Result<Bitfield> Bitfield::from_bytes(std::string_view bytes, std::size_t bits) {
    if (bytes.size() != (bits + 7) / 8) {
        return make_error(Errc::Protocol,
                          fmt::format("bitfield of {} bytes for {} pieces", bytes.size(), bits));
    }
    Bitfield b(bits);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        b.bytes_[i] = static_cast<std::uint8_t>(bytes[i]);
        b.count_ += static_cast<std::size_t>(std::popcount(b.bytes_[i]));
    }
    if (bits % 8 != 0 && (b.bytes_.back() & (0xffu >> (bits % 8))) != 0) {
        return make_error(Errc::Protocol, "bitfield has spare bits set");
    }
    return b;
}

}  // namespace gs
