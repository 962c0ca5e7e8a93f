// Reading one TPACKET_V3 block the kernel has handed over: every number in it is checked
// against the block's own bounds before anything is read through it, because the kernel
// is the only writer but a bug (ours or its) must never turn into a read past the mapping.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zerocopy::capture {

// What TypeScript reads per block, then per packet, from one Uint32Array. The counts are
// exported (PacketRing.layout) so TypeScript never writes them down.
enum BlockField : uint32_t { kBlockPackets, kBlockFlags, kBlockSequenceLow, kBlockSequenceHigh, kBlockFields };
enum PacketField : uint32_t {
  kPacketOffset,          // from the block's start to the first byte of the frame
  kPacketCaptured,        // bytes present in the ring (after the filter's snap length)
  kPacketLength,          // the frame's length on the wire
  kPacketSeconds,
  kPacketNanoseconds,
  kPacketVlanTci,
  kPacketVlanTpid,
  kPacketStatus,          // tp_status (TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID, ...)
  kPacketType,            // sll_pkttype: PACKET_HOST, PACKET_OUTGOING, ...
  kPacketRoom,            // bytes right before the frame that are the reader's to overwrite
                          // (the sockaddr_ll, already read, and padding): where a pcap
                          // record header can be written in place
  kPacketFields
};

// The smallest room a packet takes in a block (its aligned header): so a block of
// `block_size` bytes holds at most block_size / kMinPacketBytes packets.
extern const uint32_t kMinPacketBytes;

// Decodes the block at `block` (block_size bytes) into `records` (capacity numbers)
// -> packet count | -EPROTO (a number out of bounds) | -EOVERFLOW (records too small).
int64_t ReadBlock(const uint8_t* block, size_t block_size, uint32_t* records, size_t capacity);

}  // namespace zerocopy::capture
