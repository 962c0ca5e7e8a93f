#include "capture/pcap_write.h"

#include <endian.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture/block_reader.h"

namespace zerocopy::capture {

namespace {

// The Ethernet addresses a VLAN tag goes after.
constexpr uint32_t kEthernetAddresses = 12;
constexpr uint32_t kVlanTagBytes = 4;
constexpr uint16_t kDefaultVlanTpid = 0x8100;

void PutLittle32(uint8_t* at, uint32_t value) {
  value = htole32(value);
  std::memcpy(at, &value, sizeof(value));
}

void PutBig16(uint8_t* at, uint16_t value) {
  value = htobe16(value);
  std::memcpy(at, &value, sizeof(value));
}

void PutRecordHeader(uint8_t* at, const uint32_t* packet, uint32_t extra) {
  PutLittle32(at, packet[kPacketSeconds]);
  PutLittle32(at + 4, packet[kPacketNanoseconds]);
  PutLittle32(at + 8, packet[kPacketCaptured] + extra);
  PutLittle32(at + 12, packet[kPacketLength] + extra);
}

void Add(PcapRecords* out, uint8_t* base, size_t length) {
  if (length == 0) return;
  out->iov.push_back({base, length});
  out->bytes += length;
}

}  // namespace

void BuildPcapRecords(uint8_t* block, const uint32_t* records, uint32_t count, uint32_t limit, PcapRecords* out) {
  uint32_t n = std::min(count, limit);
  out->iov.reserve(out->iov.size() + n);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t* packet = records + kBlockFields + size_t(i) * kPacketFields;
    uint8_t* frame = block + packet[kPacketOffset];
    uint32_t captured = packet[kPacketCaptured];
    bool tagged = (packet[kPacketStatus] & TP_STATUS_VLAN_VALID) != 0 && captured >= kEthernetAddresses;
    uint32_t extra = tagged ? kVlanTagBytes : 0;
    uint8_t* header;
    if (packet[kPacketRoom] >= kPcapRecordBytes) {
      header = frame - kPcapRecordBytes;
    } else {
      header = out->extra.emplace_back().data();
    }
    PutRecordHeader(header, packet, extra);
    uint32_t head = tagged ? kEthernetAddresses : captured;
    if (header + kPcapRecordBytes == frame) {
      Add(out, header, kPcapRecordBytes + head);
    } else {
      Add(out, header, kPcapRecordBytes);
      Add(out, frame, head);
    }
    if (!tagged) continue;
    uint8_t* tag = out->extra.emplace_back().data();
    bool tpid_valid = (packet[kPacketStatus] & TP_STATUS_VLAN_TPID_VALID) != 0;
    PutBig16(tag, tpid_valid ? static_cast<uint16_t>(packet[kPacketVlanTpid]) : kDefaultVlanTpid);
    PutBig16(tag + 2, static_cast<uint16_t>(packet[kPacketVlanTci]));
    Add(out, tag, kVlanTagBytes);
    Add(out, frame + kEthernetAddresses, captured - kEthernetAddresses);
  }
}

int64_t WriteAll(int fd, std::vector<struct iovec>& iov) {
  int64_t total = 0;
  size_t next = 0;
  while (next < iov.size()) {
    int batch = static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
    ssize_t written = writev(fd, iov.data() + next, batch);
    if (written < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    // A regular file takes everything but on a full disk, where the next call says ENOSPC;
    // a pipe can take part: skip what went and resume inside the iovec it stopped in.
    if (written == 0) return -EIO;
    total += written;
    size_t left = static_cast<size_t>(written);
    while (next < iov.size() && left >= iov[next].iov_len) left -= iov[next++].iov_len;
    if (left > 0) {
      iov[next].iov_base = static_cast<uint8_t*>(iov[next].iov_base) + left;
      iov[next].iov_len -= left;
    }
  }
  return total;
}

}  // namespace zerocopy::capture
