#include <sys/uio.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

namespace {

// remote: an array of [address: BigInt, length: number] pairs.
std::vector<struct iovec> RemoteIovecArg(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || !info[index].IsArray()) {
    throw Napi::TypeError::New(info.Env(), "remote must be an array of [address, length]");
  }
  Napi::Array list = info[index].As<Napi::Array>();
  std::vector<struct iovec> iov;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(info.Env(), "remote entries must be [address, length]");
    Napi::Array pair = item.As<Napi::Array>();
    Napi::Value address = pair.Get(0u), length = pair.Get(1u);
    if (!address.IsBigInt() || !length.IsNumber()) {
      throw Napi::TypeError::New(info.Env(), "remote entries must be [bigint, number]");
    }
    bool lossless = false;
    uint64_t where = address.As<Napi::BigInt>().Uint64Value(&lossless);
    iov.push_back({reinterpret_cast<void*>(static_cast<uintptr_t>(where)),
                   static_cast<size_t>(length.As<Napi::Number>().Int64Value())});
  }
  return iov;
}

}  // namespace

// processVmReadv(pid, localBuffers[], remote[]) -> bytes | -errno
Napi::Value ProcessVmReadv(const Napi::CallbackInfo& info) {
  pid_t pid = IntArg(info, 0);
  std::vector<struct iovec> local = IovecArg(info, 1), remote = RemoteIovecArg(info, 2);
  return NumberResult(info.Env(),
                      SyscallResult(process_vm_readv(pid, local.data(), local.size(), remote.data(), remote.size(), 0)));
}

// processVmWritev(pid, localBuffers[], remote[]) -> bytes | -errno
Napi::Value ProcessVmWritev(const Napi::CallbackInfo& info) {
  pid_t pid = IntArg(info, 0);
  std::vector<struct iovec> local = IovecArg(info, 1), remote = RemoteIovecArg(info, 2);
  return NumberResult(info.Env(),
                      SyscallResult(process_vm_writev(pid, local.data(), local.size(), remote.data(), remote.size(), 0)));
}

}  // namespace zerocopy
