// A classic BPF interpreter for captures whose packets never pass through a socket filter
// (AF_XDP): the same programs the packet ring attaches with SO_ATTACH_FILTER, checked once the
// way the kernel's bpf_check_classic() does, then run on each frame with the kernel's
// semantics (a load past the frame, or a division by zero, returns 0: drop).
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zerocopy::capture {

class ClassicFilter {
 public:
  // Takes [code, jt, jf, k] per instruction -> 0 | -EINVAL (the kernel would refuse it) |
  // -EOPNOTSUPP (it reads the kernel's ancillary data: packet type, VLAN tag, ..., which a
  // frame outside the socket layer does not have).
  int Load(const uint32_t* words, size_t count);
  // The program's verdict on `frame` (`length` bytes): the bytes to keep, 0 to drop. Every
  // jump goes forward, so a run takes at most as many steps as the program has instructions.
  uint32_t Run(const uint8_t* frame, uint32_t length) const;
  bool loaded() const { return !program_.empty(); }

 private:
  std::vector<struct sock_filter> program_;
};

}  // namespace zerocopy::capture
