#include "capture/block_reader.h"

#include <linux/if_packet.h>

#include <cerrno>

namespace zerocopy::capture {

const uint32_t kMinPacketBytes = TPACKET_ALIGN(sizeof(struct tpacket3_hdr));

int64_t ReadBlock(const uint8_t* block, size_t block_size, uint32_t* records, size_t capacity) {
  if (block_size < sizeof(struct tpacket_block_desc)) return -EPROTO;
  const auto* desc = reinterpret_cast<const struct tpacket_block_desc*>(block);
  const struct tpacket_hdr_v1& header = desc->hdr.bh1;
  uint32_t count = header.num_pkts;
  if (capacity < kBlockFields + size_t(count) * kPacketFields) return -EOVERFLOW;
  if (header.blk_len > block_size) return -EPROTO;
  records[kBlockPackets] = count;
  records[kBlockFlags] = header.block_status;
  records[kBlockSequenceLow] = static_cast<uint32_t>(header.seq_num);
  records[kBlockSequenceHigh] = static_cast<uint32_t>(header.seq_num >> 32);
  size_t offset = header.offset_to_first_pkt;
  const size_t sll_offset = TPACKET_ALIGN(sizeof(struct tpacket3_hdr));
  for (uint32_t i = 0; i < count; i++) {
    // The header and its sockaddr_ll lie inside the block...
    if (offset < sizeof(struct tpacket_block_desc) || offset > block_size ||
        block_size - offset < sll_offset + sizeof(struct sockaddr_ll)) {
      return -EPROTO;
    }
    const auto* packet = reinterpret_cast<const struct tpacket3_hdr*>(block + offset);
    const auto* link = reinterpret_cast<const struct sockaddr_ll*>(block + offset + sll_offset);
    // ...and so do the frame's bytes.
    size_t room = block_size - offset;
    if (packet->tp_mac > room || packet->tp_snaplen > room - packet->tp_mac) return -EPROTO;
    if (packet->tp_snaplen > packet->tp_len) return -EPROTO;
    uint32_t* record = records + kBlockFields + size_t(i) * kPacketFields;
    record[kPacketOffset] = static_cast<uint32_t>(offset + packet->tp_mac);
    record[kPacketCaptured] = packet->tp_snaplen;
    record[kPacketLength] = packet->tp_len;
    record[kPacketSeconds] = packet->tp_sec;
    record[kPacketNanoseconds] = packet->tp_nsec;
    record[kPacketVlanTci] = packet->hv1.tp_vlan_tci;
    record[kPacketVlanTpid] = packet->hv1.tp_vlan_tpid;
    record[kPacketStatus] = packet->tp_status;
    record[kPacketType] = link->sll_pkttype;
    record[kPacketRoom] = packet->tp_mac >= sll_offset ? packet->tp_mac - static_cast<uint32_t>(sll_offset) : 0;
    if (i + 1 < count) {
      // The kernel only moves forward, and never by less than a header.
      if (packet->tp_next_offset < sll_offset || packet->tp_next_offset > room) return -EPROTO;
      offset += packet->tp_next_offset;
    }
  }
  return count;
}

}  // namespace zerocopy::capture
