// A held block's packets as pcap records, written to a file in one go: the 16-byte record
// header of each packet goes into the block itself, in the bytes right before its frame (the
// kernel's sockaddr_ll, already read, and padding), so header and frame are one iovec and the
// packet's bytes go from the ring to the file without a copy in user space.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace zerocopy::capture {

// The record header of a classic pcap file.
constexpr size_t kPcapRecordBytes = 16;

// What one write of a block sends, in order. `extra` holds the bytes that cannot be in the
// block (a header with no room before its frame, a VLAN tag to put back); a deque, so the
// iovecs pointing into it stay valid while it grows.
struct PcapRecords {
  std::vector<uint8_t> prefix;  // the file header, when this is the file's first write
  std::vector<struct iovec> iov;
  std::deque<std::array<uint8_t, kPcapRecordBytes>> extra;
  size_t bytes = 0;
};

// Writes the record headers of the first `limit` of the `count` packets that `records` (as
// ReadBlock filled it) describes into `block`, and lists in `out` what to write. A tag the
// kernel took off a frame (TP_STATUS_VLAN_VALID) is put back after the Ethernet addresses,
// as libpcap does.
void BuildPcapRecords(uint8_t* block, const uint32_t* records, uint32_t count, uint32_t limit, PcapRecords* out);

// Writes every byte `iov` lists to `fd`, IOV_MAX iovecs a call, resuming after short writes
// and EINTR -> bytes written | -errno. Blocks: for the thread pool.
int64_t WriteAll(int fd, std::vector<struct iovec>& iov);

}  // namespace zerocopy::capture
