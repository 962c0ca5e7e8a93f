/*
 * A packet generator for the capture benchmark and tests: Ethernet/IPv4/UDP frames sent
 * on an interface with sendmmsg() on an AF_PACKET socket (no IP stack, no addresses needed).
 *
 *   packet-gen IFACE COUNT SIZE RATE FLOWS [VLAN]
 *
 * COUNT frames; SIZE bytes each (60..9000), or 0 for sizes that vary with the sequence
 * number (60 + seq * 97 % 1400); RATE frames per second (0: as fast as it can); FLOWS
 * UDP source ports (10000 + seq % FLOWS); VLAN, if given, an 802.1Q id tagged after the MAC
 * addresses (4 more bytes). Prints "sent N SECONDS" when done.
 *
 * Frame seq, byte for byte (test/capture/frames.ts builds the same frames to check them):
 *   dst 02:00:00:00:00:02, src 02:00:00:00:00:01, type 0x0800;
 *   IPv4 header 45 00 LEN ID=seq&0xffff 40 00 40 11 CHECKSUM 10.77.0.1 10.77.0.2;
 *   UDP 10000+seq%FLOWS -> 9, length, checksum 0;
 *   payload: seq as 4 bytes big-endian, then byte j (from 4) = (seq + j) & 0xff.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FRAME 9000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint16_t checksum(const uint8_t* bytes, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static size_t build(uint8_t* frame, uint64_t seq, size_t size, unsigned flows) {
  if (size == 0) size = 60 + (seq * 97) % 1400;
  static const uint8_t head[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  memcpy(frame, head, 14);
  uint8_t* ip = frame + 14;
  size_t ip_length = size - 14;
  uint8_t ip_head[20] = {0x45, 0, ip_length >> 8, ip_length & 0xff, (seq >> 8) & 0xff, seq & 0xff, 0x40, 0, 64, 17,
                         0, 0, 10, 77, 0, 1, 10, 77, 0, 2};
  uint16_t sum = checksum(ip_head, 20);
  ip_head[10] = sum >> 8;
  ip_head[11] = sum & 0xff;
  memcpy(ip, ip_head, 20);
  uint8_t* udp = ip + 20;
  size_t udp_length = ip_length - 20;
  unsigned port = 10000 + (unsigned)(seq % flows);
  uint8_t udp_head[8] = {port >> 8, port & 0xff, 0, 9, udp_length >> 8, udp_length & 0xff, 0, 0};
  memcpy(udp, udp_head, 8);
  uint8_t* payload = udp + 8;
  size_t payload_length = udp_length - 8;
  for (size_t j = 0; j < payload_length; j++) {
    payload[j] = j < 4 ? (uint8_t)(seq >> (24 - 8 * j)) : (uint8_t)(seq + j);
  }
  return size;
}

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: packet-gen IFACE COUNT SIZE RATE FLOWS [VLAN]\n");
    return 2;
  }
  unsigned index = if_nametoindex(argv[1]);
  uint64_t count = strtoull(argv[2], NULL, 10);
  size_t size = strtoul(argv[3], NULL, 10);
  double rate = strtod(argv[4], NULL);
  unsigned flows = (unsigned)strtoul(argv[5], NULL, 10);
  unsigned vlan = argc == 7 ? (unsigned)strtoul(argv[6], NULL, 10) & 0xfff : 0;
  if (index == 0 || (size != 0 && (size < 60 || size > MAX_FRAME)) || flows == 0) {
    fprintf(stderr, "packet-gen: bad interface, size or flows\n");
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    perror("packet-gen: socket");
    return 1;
  }
  struct sockaddr_ll address = {0};
  address.sll_family = AF_PACKET;
  address.sll_ifindex = (int)index;
  address.sll_halen = ETH_ALEN;
  if (bind(fd, (struct sockaddr*)&address, sizeof(address)) < 0) {
    perror("packet-gen: bind");
    return 1;
  }
  static uint8_t frames[BATCH][MAX_FRAME + 4];
  struct iovec vectors[BATCH];
  struct mmsghdr messages[BATCH];
  double start = now();
  uint64_t sent = 0;
  while (sent < count) {
    unsigned batch = count - sent < BATCH ? (unsigned)(count - sent) : BATCH;
    if (rate > 0) {
      // Paced: never ahead of the schedule, so a fixed rate is a fixed rate.
      double due = start + (double)(sent + batch) / rate;
      double wait = due - now();
      if (wait > 0) {
        struct timespec pause = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
        nanosleep(&pause, NULL);
      }
    }
    for (unsigned i = 0; i < batch; i++) {
      vectors[i].iov_base = frames[i];
      vectors[i].iov_len = build(frames[i], sent + i, size, flows);
      if (vlan != 0) {
        memmove(frames[i] + 16, frames[i] + 12, vectors[i].iov_len - 12);
        uint8_t tag[4] = {0x81, 0x00, vlan >> 8, vlan & 0xff};
        memcpy(frames[i] + 12, tag, 4);
        vectors[i].iov_len += 4;
      }
      memset(&messages[i], 0, sizeof(messages[i]));
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned done = 0;
    while (done < batch) {
      int result = sendmmsg(fd, messages + done, batch - done, 0);
      if (result < 0) {
        if (errno == ENOBUFS || errno == EAGAIN) continue;
        perror("packet-gen: sendmmsg");
        return 1;
      }
      done += (unsigned)result;
    }
    sent += batch;
  }
  printf("sent %llu %.6f\n", (unsigned long long)sent, now() - start);
  return 0;
}
