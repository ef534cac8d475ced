// Strong index types for the download engine, so a piece number, a block number and a peer
// handle cannot be mixed up. Plain values, any thread.
#pragma once

#include <compare>
#include <cstdint>

namespace gs::peer {

struct PieceIndex {
    std::uint32_t value = 0;
    auto operator<=>(const PieceIndex&) const = default;
};

// A block within a piece: bytes [value * kBlockBytes, ...) of that piece (BEP 3 blocks).
struct BlockIndex {
    std::uint32_t value = 0;
    auto operator<=>(const BlockIndex&) const = default;
};

// A Downloader's handle for one peer connection; never reused within one download.
struct PeerId {
    std::uint32_t value = 0;
    auto operator<=>(const PeerId&) const = default;
};

// One block to ask a peer for (BEP 3 request: index, begin, length).
struct BlockRequest {
    PieceIndex piece;
    std::uint32_t begin = 0;
    std::uint32_t length = 0;
    bool operator==(const BlockRequest&) const = default;
};

}  // namespace gs::peer
