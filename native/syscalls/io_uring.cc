#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

// probeIoUring() -> { features, opcodes: number[] } | -errno
// Sets up a 2-entry ring, asks which opcodes the kernel supports, and closes it again.
Napi::Value ProbeIoUring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct io_uring_params params;
  std::memset(&params, 0, sizeof params);
  int ring = static_cast<int>(syscall(__NR_io_uring_setup, 2, &params));
  if (ring < 0) return NumberResult(env, -errno);

  const unsigned kOps = 256;
  size_t size = sizeof(struct io_uring_probe) + kOps * sizeof(struct io_uring_probe_op);
  auto* probe = static_cast<struct io_uring_probe*>(calloc(1, size));
  long registered = syscall(__NR_io_uring_register, ring, IORING_REGISTER_PROBE, probe, kOps);
  int error = registered < 0 ? errno : 0;
  close(ring);

  Napi::Object result = Napi::Object::New(env);
  result.Set("features", Napi::Number::New(env, params.features));
  Napi::Array opcodes = Napi::Array::New(env);
  if (error == 0) {
    uint32_t count = 0;
    for (unsigned op = 0; op < probe->ops_len && op < kOps; op++) {
      if (probe->ops[op].flags & IO_URING_OP_SUPPORTED) opcodes.Set(count++, Napi::Number::New(env, op));
    }
  }
  free(probe);
  result.Set("opcodes", opcodes);
  result.Set("probeErrno", Napi::Number::New(env, -error));
  return result;
}

}  // namespace zerocopy
