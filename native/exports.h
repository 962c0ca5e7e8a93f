// Every function the addon exports; the table itself is in addon.cc.
#pragma once

#include <napi.h>

namespace zerocopy {

Napi::Value Sendfile(const Napi::CallbackInfo& info);
Napi::Value SendfileInPool(const Napi::CallbackInfo& info);
Napi::Value Splice(const Napi::CallbackInfo& info);
Napi::Value SpliceInPool(const Napi::CallbackInfo& info);
Napi::Value Tee(const Napi::CallbackInfo& info);
Napi::Value Vmsplice(const Napi::CallbackInfo& info);
Napi::Value Pipe(const Napi::CallbackInfo& info);
Napi::Value CopyFileRange(const Napi::CallbackInfo& info);
Napi::Value CopyFileRangeInPool(const Napi::CallbackInfo& info);
Napi::Value Ficlone(const Napi::CallbackInfo& info);
Napi::Value FicloneRange(const Napi::CallbackInfo& info);
Napi::Value Mmap(const Napi::CallbackInfo& info);
Napi::Value Unmap(const Napi::CallbackInfo& info);
Napi::Value MappingState(const Napi::CallbackInfo& info);
Napi::Value Madvise(const Napi::CallbackInfo& info);
Napi::Value Msync(const Napi::CallbackInfo& info);
Napi::Value AddressOf(const Napi::CallbackInfo& info);
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);
Napi::Value ProcessVmReadv(const Napi::CallbackInfo& info);
Napi::Value ProcessVmWritev(const Napi::CallbackInfo& info);
Napi::Value Socket(const Napi::CallbackInfo& info);
Napi::Value Socketpair(const Napi::CallbackInfo& info);
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info);
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info);
Napi::Value SetsockoptBytes(const Napi::CallbackInfo& info);
Napi::Value Send(const Napi::CallbackInfo& info);
Napi::Value ReadZerocopyCompletions(const Napi::CallbackInfo& info);
Napi::Value Fcntl(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value Fadvise(const Napi::CallbackInfo& info);
Napi::Value Readahead(const Napi::CallbackInfo& info);
Napi::Value FileSystemType(const Napi::CallbackInfo& info);
Napi::Value ProbeIoUring(const Napi::CallbackInfo& info);
Napi::Value ResidentPages(const Napi::CallbackInfo& info);
Napi::Value Lseek(const Napi::CallbackInfo& info);
Napi::Function DefinePoller(Napi::Env env);
Napi::Function DefineNativeFront(Napi::Env env);
Napi::Function DefineRelay(Napi::Env env);
Napi::Function DefineChannel(Napi::Env env);

}  // namespace zerocopy
