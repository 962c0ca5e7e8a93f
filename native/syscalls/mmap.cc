#include <sys/mman.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

namespace {

// One mapping, owned by the ArrayBuffer that exposes it. Unmapped either explicitly
// (unmap: munmap, then detach the ArrayBuffer so every view reads as empty instead of
// faulting) or when the ArrayBuffer is collected, whichever comes first.
struct Mapping {
  void* address;
  size_t length;
  bool mapped;
};

// Marks ArrayBuffers that this addon created, so unmap() cannot be handed a foreign one.
const napi_type_tag kMappingTag = {0x7a65726f636f7079ULL, 0x6d6d61702d763031ULL};

void FinalizeMapping(Napi::Env, void*, Mapping* mapping) {
  if (mapping->mapped) munmap(mapping->address, mapping->length);
  delete mapping;
}

// Returns nullptr when `value` is not an ArrayBuffer made by mmap().
Mapping* MappingOf(Napi::Env env, Napi::Value value) {
  if (!value.IsArrayBuffer()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kMappingTag, &tagged) != napi_ok || !tagged) return nullptr;
  void* mapping = nullptr;
  if (napi_unwrap(env, value, &mapping) != napi_ok) return nullptr;
  return static_cast<Mapping*>(mapping);
}

// Resolves [offset, offset + length) of a live mapping to an address, or returns an errno.
int RangeOf(const Napi::CallbackInfo& info, Mapping** mapping, uint8_t** start, size_t* length) {
  *mapping = MappingOf(info.Env(), info[0]);
  if (*mapping == nullptr || !(*mapping)->mapped) return EINVAL;
  size_t offset = SizeArg(info, 1);
  *length = SizeArg(info, 2);
  if (offset > (*mapping)->length || *length > (*mapping)->length - offset) return EINVAL;
  *start = static_cast<uint8_t*>((*mapping)->address) + offset;
  return 0;
}

}  // namespace

// mmap(fd, length, offset, prot, flags) -> ArrayBuffer | -errno
// `offset` must be page-aligned (TypeScript aligns it and narrows the view).
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  size_t length = SizeArg(info, 1);
  int64_t offset = Int64Arg(info, 2);
  int prot = IntArg(info, 3), flags = IntArg(info, 4);
  void* address = mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (address == MAP_FAILED) return NumberResult(env, -errno);

  auto* mapping = new Mapping{address, length, true};
  Napi::ArrayBuffer buffer;
  try {
    buffer = Napi::ArrayBuffer::New(env, address, length, FinalizeMapping, mapping);
  } catch (...) {
    munmap(address, length);
    delete mapping;
    throw;
  }
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, buffer, &kMappingTag), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, buffer, mapping, nullptr, nullptr, nullptr), Napi::Value());
  return buffer;
}

// unmap(arrayBuffer) -> 0 | -errno (-EINVAL: not a mapping made by mmap; 1: was already unmapped)
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = MappingOf(env, info[0]);
  if (mapping == nullptr) return NumberResult(env, -EINVAL);
  if (!mapping->mapped) return NumberResult(env, 1);
  // Detach first: once the views are empty, no JavaScript can reach the pages we release.
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, info[0]), Napi::Value());
  mapping->mapped = false;
  return NumberResult(env, SyscallResult(munmap(mapping->address, mapping->length)));
}

// isMapping(value) -> 1 live mapping | 0 unmapped mapping | -EINVAL not a mapping
Napi::Value MappingState(const Napi::CallbackInfo& info) {
  Mapping* mapping = MappingOf(info.Env(), info[0]);
  if (mapping == nullptr) return NumberResult(info.Env(), -EINVAL);
  return NumberResult(info.Env(), mapping->mapped ? 1 : 0);
}

// madvise(arrayBuffer, offset, length, advice) -> 0 | -errno
Napi::Value Madvise(const Napi::CallbackInfo& info) {
  Mapping* mapping;
  uint8_t* start;
  size_t length;
  if (int error = RangeOf(info, &mapping, &start, &length)) return NumberResult(info.Env(), -error);
  return NumberResult(info.Env(), SyscallResult(madvise(start, length, IntArg(info, 3))));
}

// msync(arrayBuffer, offset, length, flags) -> 0 | -errno
Napi::Value Msync(const Napi::CallbackInfo& info) {
  Mapping* mapping;
  uint8_t* start;
  size_t length;
  if (int error = RangeOf(info, &mapping, &start, &length)) return NumberResult(info.Env(), -error);
  return NumberResult(info.Env(), SyscallResult(msync(start, length, IntArg(info, 3))));
}

// addressOf(typedArray) -> BigInt: where the bytes live in this process, for a peer's
// process_vm_readv/writev.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  ByteRange bytes = BytesArg(info, 0);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(bytes.data)));
}

}  // namespace zerocopy
