#include "capture/xdp_program.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <initializer_list>

namespace zerocopy::capture {

namespace {

int Bpf(int command, union bpf_attr* attr) {
  int result = static_cast<int>(syscall(__NR_bpf, command, attr, sizeof(*attr)));
  return result < 0 ? -errno : result;
}

struct bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn insn;
  std::memset(&insn, 0, sizeof(insn));
  insn.code = code;
  insn.dst_reg = dst & 0xf;
  insn.src_reg = src & 0xf;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

// The verdict bpf_redirect_map() returns when the key holds no socket (another queue's frame).
constexpr int32_t kXdpPass = 2;

}  // namespace

int XdpProgram::CreateMap(uint32_t queue, int socket_fd) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = sizeof(uint32_t);
  attr.value_size = sizeof(uint32_t);
  attr.max_entries = queue + 1;
  std::strncpy(attr.map_name, "zerocopy_xsk", sizeof(attr.map_name) - 1);
  int fd = Bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0) return fd;
  map_fd = fd;
  uint32_t key = queue;
  uint32_t value = static_cast<uint32_t>(socket_fd);
  std::memset(&attr, 0, sizeof(attr));
  attr.map_fd = static_cast<uint32_t>(map_fd);
  attr.key = reinterpret_cast<uint64_t>(&key);
  attr.value = reinterpret_cast<uint64_t>(&value);
  attr.flags = BPF_ANY;
  int result = Bpf(BPF_MAP_UPDATE_ELEM, &attr);
  return result < 0 ? result : 0;
}

int XdpProgram::Load() {
  struct bpf_insn program[] = {
      // r2 = ctx->rx_queue_index
      Insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct xdp_md, rx_queue_index), 0),
      // r1 = the XSKMAP (a 64-bit immediate over two instructions, the map by descriptor)
      Insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
      Insn(0, 0, 0, 0, 0),
      // r3 = XDP_PASS: what to do with a frame of a queue with no socket
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, kXdpPass),
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  char license[] = "GPL";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.insn_cnt = sizeof(program) / sizeof(program[0]);
  attr.insns = reinterpret_cast<uint64_t>(program);
  attr.license = reinterpret_cast<uint64_t>(license);
  attr.expected_attach_type = BPF_XDP;
  std::strncpy(attr.prog_name, "zerocopy_xsk", sizeof(attr.prog_name) - 1);
  int fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) return fd;
  program_fd = fd;
  return 0;
}

int XdpProgram::Attach(uint32_t ifindex, uint32_t flags) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = static_cast<uint32_t>(program_fd);
  attr.link_create.target_fd = ifindex;  // target_ifindex in newer headers: the same field
  attr.link_create.attach_type = BPF_XDP;
  attr.link_create.flags = flags;
  int fd = Bpf(BPF_LINK_CREATE, &attr);
  if (fd < 0) return fd;
  link_fd = fd;
  return 0;
}

void XdpProgram::Close() {
  // The link first: the interface stops redirecting before the socket goes.
  for (int* fd : {&link_fd, &program_fd, &map_fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

}  // namespace zerocopy::capture
