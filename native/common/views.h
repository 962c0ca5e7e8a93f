// External ArrayBuffers over native memory (ring blocks, slots, mappings) are detached when
// the memory goes back, so JavaScript never reads memory someone else is rewriting.
#pragma once

#include <napi.h>

namespace zerocopy {

// Detaches `value` if it is an ArrayBuffer starting at `address`; anything else is left
// alone. Returns whether it detached.
inline bool DetachIfView(Napi::Env env, Napi::Value value, const void* address) {
  if (!value.IsArrayBuffer()) return false;
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_arraybuffer_info(env, value, &data, &length) != napi_ok || data != address) return false;
  return napi_detach_arraybuffer(env, value) == napi_ok;
}

}  // namespace zerocopy
