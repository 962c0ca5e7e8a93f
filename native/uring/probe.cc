// probeFrontRing() -> 0 | -errno: whether the native front's io_uring engine can run here,
// by setting up the ring it would use (flags, opcodes, provided buffers) and closing it.
// -ENOSYS: no io_uring; -EPERM: kernel.io_uring_disabled, or a seccomp filter; -EOPNOTSUPP:
// an opcode or feature it needs is missing (Linux 5.19 or later has them all); -ENOMEM:
// the locked-memory limit.
#include <napi.h>

#include "common/args.h"
#include "exports.h"
#include "uring/ring.h"

namespace zerocopy {

Napi::Value ProbeFrontRing(const Napi::CallbackInfo& info) {
  Ring ring;
  int result = ring.Open(8, kFrontRingOps, kFrontRingOpCount);
  if (result == 0) result = ring.ProvideBuffers(0, 2, 4096);
  return NumberResult(info.Env(), result);
}

}  // namespace zerocopy
