#pragma once

// A read of a local object that verifies what it serves (docs/decisions.md, "Never serve a
// damaged byte").
//
// The daemon streams chunk and pack reads straight from the blob files. Every reader verifies
// what it receives, but a daemon that serves bytes it could know are wrong leaves the damage in
// place, unseen: a client that catches it can only fail. So a stream checks each chunk in the
// range as its bytes pass, and holds the last piece back until all of them check out. A packed
// chunk whose stored bytes' XXH3 was recorded when the daemon verified it on arrival is checked
// against that (no decoding); any other is decoded and hashed to its name. A chunk
// that does not verify ends the stream early (the client sees fewer bytes than Content-Length
// announced, never a clean 200) and is reported, once, to `on_damage`, which forgets the
// damaged copy so that the next push with those bytes repairs it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/pack.h"

namespace cairn::service {

class VerifiedRead {
 public:
  // `part` is the chunk whose stored bytes did not verify (its offset from the range's start);
  // `detail` says how.
  using OnDamage = std::function<void(const PackEntry& part, const std::string& detail)>;

  static constexpr size_t kPieceBytes = 256 * 1024;

  // Opens `size` bytes of the file at `path` from `offset`. `parts` (offsets from the range's
  // start, in order, not overlapping) are the chunks to verify; bytes outside every part pass
  // unchecked. kNotFound if the file is gone.
  static Result<std::unique_ptr<VerifiedRead>> open(const std::string& path, uint64_t offset,
                                                    uint64_t size, std::vector<PackEntry> parts,
                                                    OnDamage on_damage);
  ~VerifiedRead();
  VerifiedRead(const VerifiedRead&) = delete;
  VerifiedRead& operator=(const VerifiedRead&) = delete;

  uint64_t size() const { return size_; }
  // Reads and checks the first pieces now, before anything is sent: a chunk that fits in them
  // (most do) is known sound or damaged while an error response can still be given. The next
  // call to next() returns what this read.
  Result<void> prime();
  // The next piece, valid until the next call; empty once everything is sent. kCorrupt as soon
  // as a chunk fails (then on every later call), kIo on a read error.
  Result<ByteView> next();

 private:
  VerifiedRead(int fd, uint64_t offset, uint64_t size, std::vector<PackEntry> parts,
               OnDamage on_damage);
  // Reads the next piece of the file into `into` and checks the parts it ends or continues.
  Result<void> read_piece(Bytes& into);
  Result<void> check(ByteView piece, uint64_t at);
  Result<void> finish_part(const PackEntry& part);
  Result<void> fail(const PackEntry& part, const std::string& detail);

  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t size_ = 0;
  uint64_t read_ = 0;  // Bytes of the range read so far.
  std::vector<PackEntry> parts_;
  size_t part_ = 0;     // The first part not yet verified.
  Xxh3 stored_hasher_;  // Of the current part's stored bytes, when its XXH3 is on record.
  Sha256 hasher_;       // Of the current raw part otherwise.
  Bytes stored_;        // The current compressed part, gathered whole (pack chunks are small).
  Bytes decoded_;
  Bytes held_;     // Read and checked, not yet sent.
  Bytes sending_;  // Returned by the last call.
  bool started_ = false;
  bool primed_ = false;
  std::optional<Error> failed_;
  OnDamage on_damage_;
};

}  // namespace cairn::service
