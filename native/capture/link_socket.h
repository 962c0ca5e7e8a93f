// Calls both capture sockets (the packet ring's AF_PACKET socket and the AF_XDP one) make
// on the link they read.
#pragma once

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>

namespace zerocopy::capture {

// The error the socket reported with EPOLLERR (ENETDOWN, ...), negated; 0 for none.
inline int PendingSocketError(int fd) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return -errno;
  return -error;
}

// Puts the interface into promiscuous mode for as long as `packet_fd`, an AF_PACKET socket,
// stays open: 0 or -errno.
inline int JoinPromiscuous(int packet_fd, int ifindex) {
  struct packet_mreq request = {};
  request.mr_ifindex = ifindex;
  request.mr_type = PACKET_MR_PROMISC;
  return setsockopt(packet_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &request, sizeof(request)) < 0 ? -errno : 0;
}

}  // namespace zerocopy::capture
