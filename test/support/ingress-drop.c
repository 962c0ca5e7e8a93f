// Drops every packet arriving on one network device, with the smallest BPF program there is:
// two hand-assembled instructions, "r0 = DROP; exit", loaded and attached with the raw bpf()
// call (no clang, no libbpf). TCX ingress (Linux 6.6+) by default, XDP with "xdp".
//
//   ingress-drop <device> [tcx|xdp]
//
// Prints "attached tcx" (or xdp) once the drop is in place, then holds the link until its
// standard input closes: the drop lasts exactly as long as this process (and goes with the
// device or its network namespace in any case). Exit 77 when the kernel refuses (no BPF).
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// Newer than the system headers here may be.
#define ATTACH_TCX_INGRESS 46
#define TC_ACT_SHOT 2
#define XDP_DROP_VERDICT 1

static int bpf(int command, union bpf_attr* attr) { return (int)syscall(__NR_bpf, command, attr, sizeof *attr); }

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ingress-drop <device> [tcx|xdp]\n");
    return 2;
  }
  int xdp = argc > 2 && strcmp(argv[2], "xdp") == 0;
  unsigned ifindex = if_nametoindex(argv[1]);
  if (ifindex == 0) {
    fprintf(stderr, "no device %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  struct bpf_insn program[2];
  memset(program, 0, sizeof program);
  program[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = verdict
  program[0].dst_reg = BPF_REG_0;
  program[0].imm = xdp ? XDP_DROP_VERDICT : TC_ACT_SHOT;
  program[1].code = BPF_JMP | BPF_EXIT;  // return r0
  char license[] = "GPL";

  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = xdp ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS;
  load.insn_cnt = 2;
  load.insns = (uint64_t)(uintptr_t)program;
  load.license = (uint64_t)(uintptr_t)license;
  load.expected_attach_type = xdp ? BPF_XDP : ATTACH_TCX_INGRESS;
  int program_fd = bpf(BPF_PROG_LOAD, &load);
  if (program_fd < 0) {
    fprintf(stderr, "BPF_PROG_LOAD: %s\n", strerror(errno));
    return 77;
  }

  union bpf_attr link;
  memset(&link, 0, sizeof link);
  link.link_create.prog_fd = (uint32_t)program_fd;
  link.link_create.target_fd = ifindex;  // target_ifindex in newer headers: the same field
  link.link_create.attach_type = xdp ? BPF_XDP : ATTACH_TCX_INGRESS;
  int link_fd = bpf(BPF_LINK_CREATE, &link);
  if (link_fd < 0) {
    fprintf(stderr, "BPF_LINK_CREATE: %s\n", strerror(errno));
    return 77;
  }
  printf("attached %s\n", xdp ? "xdp" : "tcx");
  fflush(stdout);
  char byte;
  while (read(STDIN_FILENO, &byte, 1) > 0) {
  }
  close(link_fd);
  close(program_fd);
  return 0;
}
