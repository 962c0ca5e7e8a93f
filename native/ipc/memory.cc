#include "ipc/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace zerocopy::ipc {

namespace {

constexpr int kRequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

void InitialiseHeader(void* base, uint32_t slot_size, uint32_t slot_count, uint32_t mode, uint32_t overflow,
                      uint32_t max_subscribers) {
  // Fresh memfd pages are zero; constructing the atomics in place makes them objects.
  auto* header = new (base) Header();
  header->magic = kMagic;
  header->version = kVersion;
  header->slot_size = slot_size;
  header->slot_count = slot_count;
  header->mode = mode;
  header->overflow = overflow;
  header->max_subscribers = max_subscribers;
  header->data_offset = DataOffset(slot_count);
  header->total_bytes = TotalBytes(slot_size, slot_count);
  auto* meta = reinterpret_cast<SlotMeta*>(static_cast<uint8_t*>(base) + MetaOffset());
  for (uint32_t i = 0; i < slot_count; i++) {
    new (&meta[i]) SlotMeta();
    // No message yet: a sequence that can never match one being read.
    meta[i].sequence.store(~uint64_t(0), std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
}

}  // namespace

int CreateChannelMemory(uint32_t slot_size, uint32_t slot_count, uint32_t mode, uint32_t overflow,
                        uint32_t max_subscribers) {
  if (!ValidGeometry(slot_size, slot_count, max_subscribers) || mode > kBroadcast || overflow > kOverwrite) {
    return -EINVAL;
  }
  uint64_t total = TotalBytes(slot_size, slot_count);
  int fd = memfd_create("zerocopy-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, static_cast<off_t>(total)) < 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    int error = errno;
    close(fd);
    return -error;
  }
  InitialiseHeader(base, slot_size, slot_count, mode, overflow, max_subscribers);
  munmap(base, total);
  if (fcntl(fd, F_ADD_SEALS, kRequiredSeals) < 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

int MapChannelMemory(int fd, Mapping* mapping) {
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return errno == EINVAL ? -EBADF : -errno;
  if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) return -EBADF;
  struct stat status;
  if (fstat(fd, &status) < 0) return -errno;
  auto size = static_cast<uint64_t>(status.st_size);
  if (size < sizeof(Header) || size > kMaxDataBytes + (16u << 20)) return -EPROTO;
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return -errno;
  auto* header = static_cast<Header*>(base);
  // Copy the geometry once, then check the copy: a peer rewriting the header later
  // cannot change what we index with.
  uint32_t magic = header->magic, version = header->version;
  uint32_t slot_size = header->slot_size, slot_count = header->slot_count;
  uint32_t mode = header->mode, overflow = header->overflow, max_subscribers = header->max_subscribers;
  if (magic != kMagic || version != kVersion || !ValidGeometry(slot_size, slot_count, max_subscribers) ||
      mode > kBroadcast || overflow > kOverwrite || TotalBytes(slot_size, slot_count) != size) {
    munmap(base, size);
    return -EPROTO;
  }
  mapping->header = header;
  mapping->length = size;
  mapping->slot_size = slot_size;
  mapping->slot_count = slot_count;
  mapping->mode = mode;
  mapping->overflow = overflow;
  mapping->max_subscribers = max_subscribers;
  mapping->data_offset = DataOffset(slot_count);
  mapping->device = static_cast<uint64_t>(status.st_dev);
  mapping->inode = static_cast<uint64_t>(status.st_ino);
  return 0;
}

void UnmapChannelMemory(Mapping* mapping) {
  if (mapping->header == nullptr) return;
  munmap(mapping->header, mapping->length);
  mapping->header = nullptr;
}

}  // namespace zerocopy::ipc
