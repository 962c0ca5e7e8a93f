// The XDP side of an AF_XDP capture, with the raw bpf() call (no libbpf): an XSKMAP holding
// the socket at its queue's key, and a program of six instructions that redirects each frame
// of that queue to the socket, attached to the interface by a BPF link (the program goes
// away when the link's descriptor closes, so a crashed process leaves nothing behind).
#pragma once

#include <cstdint>

namespace zerocopy::capture {

struct XdpProgram {
  int map_fd = -1;
  int program_fd = -1;
  int link_fd = -1;

  // BPF_MAP_CREATE (XSKMAP, queue + 1 entries) and the socket at key `queue` -> 0 | -errno.
  int CreateMap(uint32_t queue, int socket_fd);
  // BPF_PROG_LOAD of the redirect program -> 0 | -errno.
  int Load();
  // BPF_LINK_CREATE on `ifindex` with XDP_FLAGS_* `flags` (driver or generic mode) -> 0 | -errno.
  int Attach(uint32_t ifindex, uint32_t flags);
  void Close();
};

}  // namespace zerocopy::capture
