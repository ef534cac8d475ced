// PieceStore: the on-disk side of one download. Owns `<dest>.part` (preallocated), one assembly
// buffer per piece in flight, and `<dest>.part.state` (info hash + verified-piece bitfield) for
// resume. It does not track which blocks or pieces are in: the download's PiecePicker decides
// when a piece is complete and holds the verified set; the store copies blocks, checks a
// complete piece with SHA1 before it touches disk (verify_piece) and writes the bitfield it is
// given. finish() fsyncs and gives the file its final name without ever overwriting an existing
// file. Owned by a Downloader on the reactor thread; only verify() and write_state() may be
// called from a worker.
#pragma once

#include "peer/download/indexes.hpp"
#include "shared/bitfield.hpp"
#include "shared/net/fd.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/result.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gs::peer {

class PieceStore {
public:
    // A new resume state is due after this many newly verified pieces (save_due()).
    static constexpr std::uint32_t kSaveEveryPieces = 16;

    // What save_state writes, copied so that a worker thread can write it while the reactor
    // goes on: a duplicate of the data fd (to make the data durable first) and the state bytes.
    struct StateSnapshot {
        net::Fd data_fd;
        std::string part_path;
        std::string state_path;
        std::string body;
    };

    // Resumes `<destination>.part` or creates it, sized to the file. Only a partial file that
    // is provably ours is resumed: a regular file (never a symlink: O_NOFOLLOW), owned by us,
    // not hard-linked, of the file's size, paired with a `<destination>.part.state` that records
    // this info hash. A fresh one is created with O_CREAT|O_EXCL|O_NOFOLLOW, only when no state
    // file is there either, and its state (no piece verified yet) is written before open
    // returns, so a download killed at any point can be resumed. Anything else is refused
    // untouched, with a message that says which file is in the way (AlreadyExists), as is a
    // partial file another download holds (flock). AlreadyExists too when `destination` is
    // already there; Io when the disk says no (a fresh partial file is then removed again).
    static Result<PieceStore> open(const std::string& destination, const proto::InfoDict& info);

    PieceStore(PieceStore&&) = default;
    PieceStore& operator=(PieceStore&&) = default;

    // The pieces the state file recorded as verified when the store was opened (none for a
    // fresh one), handed over once: the download's PiecePicker holds the verified set from then
    // on, and the store keeps no copy.
    Bitfield take_resumed() { return std::exchange(resumed_, Bitfield()); }

    // Copies one block (BEP 3 block: begin a multiple of 16 KiB, 16 KiB or the short tail) into
    // its piece's buffer. Protocol error for a block that does not fit the piece.
    Status write_block(PieceIndex piece, std::uint32_t begin, std::string_view data);

    enum class Verdict : std::uint8_t { Passed, Failed };
    // The one call for a piece whose every block was written (the picker says when): checks it
    // with SHA1 here, on the calling thread, and writes it into the partial file only if it
    // matches. Passed: it is on disk (the caller records it as verified); Failed: its bytes were
    // wrong and are gone (fetch it again); an Io error: it matched but could not be written.
    // Either way its buffer goes back for the next piece.
    Result<Verdict> verify_piece(PieceIndex piece);

    // The same in three steps, so that the costly part (SHA1 of half a MiB, and copying it into
    // the page cache) runs on a worker thread while the reactor goes on with the network:
    // take_piece() on the reactor, check_and_write() on any thread, recycle() on the reactor.
    // A CompletePiece owns everything the check needs, including a duplicate of the partial
    // file's descriptor, so it may outlive the store.
    struct CompletePiece {
        PieceIndex piece;
        std::unique_ptr<char[]> bytes;  // piece_length bytes, `size` of them in use
        std::uint32_t size = 0;
        std::uint32_t expected_size = 0;
        std::string expected_hash;  // 20 bytes
        off_t offset = 0;
        net::Fd fd;
        std::string part_path;
        // One write into the file at a time: two workers writing one file at once make the
        // kernel's inode lock spin on the other core instead of doing work.
        std::shared_ptr<std::mutex> write_lock;
        std::string_view view() const { return {bytes.get(), size}; }
    };
    CompletePiece take_piece(PieceIndex piece);
    static Result<Verdict> check_and_write(const CompletePiece& piece);
    // Takes the buffer back for the next piece; `written`: the piece passed and is on disk.
    void recycle(CompletePiece&& piece, bool written);
    // Whether `data` is piece `piece` (its SHA1 matches). Pure: safe on a worker thread as long
    // as the store outlives the call.
    bool verify(PieceIndex piece, std::string_view data) const;
    // Forgets a partly assembled piece (its blocks will be fetched again).
    void drop_piece(PieceIndex piece) { assembling_.erase(piece.value); }

    // Makes `verified` (the download's verified set) durable: data first (fdatasync), then the
    // state written to a temporary file, fsynced and renamed over the old one. Call on pause and
    // shutdown. Two writes may overlap (each has its own temporary file): the last rename wins,
    // and an older snapshot only claims fewer pieces.
    Status save_state(const Bitfield& verified) { return write_state(snapshot(verified)); }
    // kSaveEveryPieces pieces were verified since the last snapshot.
    bool save_due() const { return unsaved_pieces_ >= kSaveEveryPieces; }
    // The state recording `verified`, to be written by write_state (counts as saved from now on).
    StateSnapshot snapshot(const Bitfield& verified);
    // Writes a snapshot as save_state does. Any thread, even while another write runs.
    static Status write_state(const StateSnapshot& snapshot);

    // Every piece verified: fsync, rename the partial file to the destination unless something
    // appeared there meanwhile (AlreadyExists; the data stays in the partial file), remove the
    // state file. The fd stays open on the finished file.
    Status finish();

    const proto::InfoDict& info() const { return info_; }
    bool is_finished() const { return finished_; }
    const std::string& destination() const { return destination_; }
    const std::string& part_path() const { return part_path_; }
    const std::string& state_path() const { return state_path_; }
    int fd() const { return fd_.get(); }
    std::size_t pieces_in_memory() const { return assembling_.size(); }

private:
    // Spare piece buffers kept for reuse (more are freed): about the pieces in flight at once.
    static constexpr std::size_t kMaxSpareBuffers = 8;

    // The bytes of one piece being assembled, in a buffer that is reused for the next piece, so
    // a download does not allocate — and the kernel does not zero fresh pages — for every piece.
    struct PieceData {
        std::unique_ptr<char[]> bytes;  // piece_length bytes
        std::uint32_t size = 0;
        std::string_view view() const { return {bytes.get(), size}; }
    };

    PieceStore() = default;
    Status adopt_partial_file();
    Status create_partial_file();
    Status load_state();
    Error not_resumable(std::string_view why) const;
    Error in_use_error() const;

    proto::InfoDict info_;
    std::string destination_;
    std::string part_path_;
    std::string state_path_;
    net::Fd fd_;
    Bitfield resumed_;
    std::map<std::uint32_t, PieceData> assembling_;
    std::vector<std::unique_ptr<char[]>> spare_;  // piece_length bytes each
    std::uint32_t unsaved_pieces_ = 0;
    bool finished_ = false;
    std::shared_ptr<std::mutex> write_lock_ = std::make_shared<std::mutex>();
};

}  // namespace gs::peer
