// The Node-API glue of an AF_XDP capture socket: a UMEM (anonymous memory the kernel copies
// frames into, or the NIC writes directly in zero-copy mode), its fill and completion rings,
// the socket's receive ring, and the XDP program that redirects the queue's frames here.
//
// JavaScript takes the frames the receive ring holds as one batch: an external ArrayBuffer
// over the UMEM (the packets are views into it) and the frames' numbers in the same records
// the packet ring writes (capture/block_reader.h). Releasing the batch detaches that
// ArrayBuffer and puts its frames back on the fill ring. Frames the capture's classic BPF
// filter refuses go back at once, unseen.
//
// Every number read from a ring (the kernel's producer and consumer indexes, a descriptor's
// address and length) is checked against the ring's size and the UMEM before it is used.
// Policy (sizes, which bind mode to try first, driver or generic XDP) is TypeScript's; each
// method is one step and returns its result or -errno. Nothing here waits.
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "capture/block_reader.h"
#include "capture/classic_filter.h"
#include "capture/link_socket.h"
#include "capture/xdp_program.h"
#include "common/args.h"
#include "common/views.h"
#include "exports.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace zerocopy {

namespace {

using capture::kBlockFields;
using capture::kPacketFields;

// One mapped ring: the kernel's producer and consumer words and the entries.
struct Ring {
  void* map = nullptr;
  size_t map_length = 0;
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  void* entries = nullptr;
  uint32_t size = 0;  // a power of two

  int Map(int fd, off_t page_offset, const struct xdp_ring_offset& offsets, uint32_t count, size_t entry_size) {
    map_length = offsets.desc + size_t(count) * entry_size;
    void* mapped = mmap(nullptr, map_length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, page_offset);
    if (mapped == MAP_FAILED) return -errno;
    map = mapped;
    auto* base = static_cast<uint8_t*>(mapped);
    producer = reinterpret_cast<uint32_t*>(base + offsets.producer);
    consumer = reinterpret_cast<uint32_t*>(base + offsets.consumer);
    entries = base + offsets.desc;
    size = count;
    return 0;
  }
  void Unmap() {
    if (map != nullptr) munmap(map, map_length);
    map = nullptr;
  }
};

// Which packet type the records carry for an AF_XDP frame: none of the kernel's PACKET_*.
constexpr uint32_t kPacketTypeNone = 0xffffffffu;

class XdpSocket : public Napi::ObjectWrap<XdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function constructor = DefineClass(
        env, "XdpSocket",
        {InstanceMethod("open", &XdpSocket::Open), InstanceMethod("setupUmem", &XdpSocket::SetupUmem),
         InstanceMethod("bind", &XdpSocket::Bind), InstanceMethod("zeroCopy", &XdpSocket::ZeroCopy),
         InstanceMethod("createMap", &XdpSocket::CreateMap), InstanceMethod("loadProgram", &XdpSocket::LoadProgram),
         InstanceMethod("attachProgram", &XdpSocket::AttachProgram),
         InstanceMethod("setFilter", &XdpSocket::SetFilter),
         InstanceMethod("setPromiscuous", &XdpSocket::SetPromiscuous),
         InstanceMethod("statistics", &XdpSocket::Statistics), InstanceMethod("socketError", &XdpSocket::SocketError),
         InstanceMethod("nextBlock", &XdpSocket::NextBlock), InstanceMethod("releaseBlock", &XdpSocket::ReleaseBlock),
         InstanceMethod("writePcap", &XdpSocket::WritePcap), InstanceMethod("close", &XdpSocket::Close),
         StaticMethod("filterVerdict", &XdpSocket::FilterVerdict)});
    Napi::Object kernel = Napi::Object::New(env);
    kernel.Set("bindCopy", XDP_COPY);
    kernel.Set("bindZeroCopy", XDP_ZEROCOPY);
    kernel.Set("attachDriver", XDP_FLAGS_DRV_MODE);
    kernel.Set("attachGeneric", XDP_FLAGS_SKB_MODE);
    kernel.Set("pageSize", static_cast<double>(sysconf(_SC_PAGESIZE)));
    kernel.Set("statisticsFields", 6);
    kernel.Freeze();
    constructor.Set("kernel", kernel);
    return constructor;
  }

  explicit XdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XdpSocket>(info) {}

  ~XdpSocket() override {
    // Collected without close(): a batch's view may still be alive, so the UMEM stays (a leak)
    // rather than leave a view onto unmapped memory.
    Shutdown(!holding_);
  }

 private:
  // open() -> fd | -errno
  Napi::Value Open(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) return NumberResult(info.Env(), -EISCONN);
    fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    return NumberResult(info.Env(), fd_ < 0 ? -errno : fd_);
  }

  // setupUmem(frameSize, frames, rxEntries) -> 0 | -errno: the UMEM (page-aligned anonymous
  // memory), registered; fill ring of `frames` entries, completion and receive rings of
  // `rxEntries` (powers of two), each mapped; every frame put on the fill ring.
  Napi::Value SetupUmem(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    if (umem_ != nullptr) return NumberResult(env, -EISCONN);
    uint32_t frame_size = static_cast<uint32_t>(SizeArg(info, 0));
    uint32_t frames = static_cast<uint32_t>(SizeArg(info, 1));
    uint32_t rx_entries = static_cast<uint32_t>(SizeArg(info, 2));
    auto power_of_two = [](uint32_t n) { return n != 0 && (n & (n - 1)) == 0; };
    if (!power_of_two(frame_size) || !power_of_two(frames) || !power_of_two(rx_entries)) {
      return NumberResult(env, -EINVAL);
    }
    size_t length = size_t(frame_size) * frames;
    void* memory = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (memory == MAP_FAILED) return NumberResult(env, -errno);
    umem_ = static_cast<uint8_t*>(memory);
    umem_length_ = length;
    frame_size_ = frame_size;
    frames_ = frames;
    struct xdp_umem_reg reg = {};
    reg.addr = reinterpret_cast<uint64_t>(umem_);
    reg.len = length;
    reg.chunk_size = frame_size;
    reg.headroom = 0;
    if (setsockopt(fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0) return NumberResult(env, -errno);
    if (setsockopt(fd_, SOL_XDP, XDP_UMEM_FILL_RING, &frames, sizeof(frames)) < 0 ||
        setsockopt(fd_, SOL_XDP, XDP_UMEM_COMPLETION_RING, &rx_entries, sizeof(rx_entries)) < 0 ||
        setsockopt(fd_, SOL_XDP, XDP_RX_RING, &rx_entries, sizeof(rx_entries)) < 0) {
      return NumberResult(env, -errno);
    }
    struct xdp_mmap_offsets offsets = {};
    socklen_t offsets_length = sizeof(offsets);
    if (getsockopt(fd_, SOL_XDP, XDP_MMAP_OFFSETS, &offsets, &offsets_length) < 0) return NumberResult(env, -errno);
    int result = fill_.Map(fd_, XDP_UMEM_PGOFF_FILL_RING, offsets.fr, frames, sizeof(uint64_t));
    if (result == 0) {
      result = completion_.Map(fd_, XDP_UMEM_PGOFF_COMPLETION_RING, offsets.cr, rx_entries, sizeof(uint64_t));
    }
    if (result == 0) result = rx_.Map(fd_, XDP_PGOFF_RX_RING, offsets.rx, rx_entries, sizeof(struct xdp_desc));
    if (result < 0) return NumberResult(env, result);
    // Every frame is the kernel's to fill; the fill ring is as long as there are frames, so a
    // frame given back always finds room.
    for (uint32_t i = 0; i < frames; i++) pending_.push_back(uint64_t(i) * frame_size);
    FlushFill();
    held_.assign(kBlockFields + size_t(rx_entries) * kPacketFields, 0);
    return NumberResult(env, 0);
  }

  // bind(ifindex, queue, flags: XDP_COPY | XDP_ZEROCOPY) -> 0 | -errno
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    struct sockaddr_xdp address = {};
    address.sxdp_family = AF_XDP;
    address.sxdp_ifindex = static_cast<uint32_t>(IntArg(info, 0));
    address.sxdp_queue_id = static_cast<uint32_t>(IntArg(info, 1));
    address.sxdp_flags = static_cast<uint16_t>(IntArg(info, 2));
    int result = bind(fd_, reinterpret_cast<struct sockaddr*>(&address), sizeof(address));
    return NumberResult(env, result < 0 ? -errno : 0);
  }

  // zeroCopy() -> 1 (the driver writes into the UMEM) | 0 (copy mode) | -errno: what the
  // kernel says it is doing (XDP_OPTIONS), whatever was asked.
  Napi::Value ZeroCopy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    struct xdp_options options = {};
    socklen_t length = sizeof(options);
    if (getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &options, &length) < 0) return NumberResult(env, -errno);
    return NumberResult(env, (options.flags & XDP_OPTIONS_ZEROCOPY) != 0 ? 1 : 0);
  }

  // createMap(queue) -> 0 | -errno: the XSKMAP with this socket at `queue`.
  Napi::Value CreateMap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    return NumberResult(env, program_.CreateMap(static_cast<uint32_t>(IntArg(info, 0)), fd_));
  }

  // loadProgram() -> 0 | -errno
  Napi::Value LoadProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (program_.map_fd < 0) return NumberResult(env, -EBADF);
    return NumberResult(env, program_.Load());
  }

  // attachProgram(ifindex, flags: XDP_FLAGS_DRV_MODE | XDP_FLAGS_SKB_MODE) -> 0 | -errno
  Napi::Value AttachProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (program_.program_fd < 0) return NumberResult(env, -EBADF);
    return NumberResult(
        env, program_.Attach(static_cast<uint32_t>(IntArg(info, 0)), static_cast<uint32_t>(IntArg(info, 1))));
  }

  static int LoadWords(Napi::Env env, const Napi::Value& value, capture::ClassicFilter* filter) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "program must be a Uint32Array");
    }
    Napi::Uint32Array words = value.As<Napi::Uint32Array>();
    return filter->Load(words.Data(), words.ElementLength() / 4);
  }

  // setFilter(program: Uint32Array of [code, jt, jf, k]) -> 0 | -EINVAL | -EOPNOTSUPP
  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    return NumberResult(info.Env(), LoadWords(info.Env(), info[0], &filter_));
  }

  // filterVerdict(program, frame: Uint8Array) -> bytes to keep | -errno: the interpreter
  // alone, so a test can hold its verdicts against the kernel's.
  static Napi::Value FilterVerdict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    capture::ClassicFilter filter;
    int result = LoadWords(env, info[0], &filter);
    if (result < 0) return NumberResult(env, result);
    if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "frame must be a Uint8Array");
    Napi::Uint8Array frame = info[1].As<Napi::Uint8Array>();
    return NumberResult(env, filter.Run(frame.Data(), static_cast<uint32_t>(frame.ByteLength())));
  }

  // setPromiscuous(ifindex) -> 0 | -errno: AF_XDP has no membership of its own, so an
  // AF_PACKET socket of protocol 0 (it receives nothing) holds it; the kernel drops it when
  // that socket closes.
  Napi::Value SetPromiscuous(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (promiscuous_fd_ < 0) {
      promiscuous_fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
      if (promiscuous_fd_ < 0) return NumberResult(env, -errno);
    }
    return NumberResult(env, capture::JoinPromiscuous(promiscuous_fd_, IntArg(info, 0)));
  }

  // statistics(out: Float64Array(6)) -> 0 | -errno; out gets, since the socket opened:
  // [rx_dropped, rx_ring_full, rx_fill_ring_empty_descs, rx_invalid_descs, accepted, refused]
  // (the first four the kernel's XDP_STATISTICS, the last two the filter's here).
  Napi::Value Statistics(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    if (out.ElementLength() < 6) throw Napi::TypeError::New(env, "out must be a Float64Array of 6");
    struct xdp_statistics stats = {};
    socklen_t length = sizeof(stats);
    if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &stats, &length) < 0) return NumberResult(env, -errno);
    out[0] = static_cast<double>(stats.rx_dropped);
    out[1] = static_cast<double>(stats.rx_ring_full);
    out[2] = static_cast<double>(stats.rx_fill_ring_empty_descs);
    out[3] = static_cast<double>(stats.rx_invalid_descs + invalid_);
    out[4] = static_cast<double>(accepted_);
    out[5] = static_cast<double>(refused_);
    return NumberResult(env, 0);
  }

  // socketError() -> 0 | -errno (SO_ERROR, negated)
  Napi::Value SocketError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    return NumberResult(env, capture::PendingSocketError(fd_));
  }

  // nextBlock(records: Uint32Array) -> ArrayBuffer over the UMEM | -errno (-EAGAIN: no frame
  // the filter kept; -EBUSY: the last batch was not released; -EPROTO: the ring's indexes
  // are out of bounds). records gets [packets, 0, batch sequence low, high] and per packet
  // the packet ring's fields (offset = the frame's address in the UMEM).
  Napi::Value NextBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (umem_ == nullptr || rx_.map == nullptr) return NumberResult(env, -EBADF);
    if (holding_) return NumberResult(env, -EBUSY);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "records must be a Uint32Array");
    }
    Napi::Uint32Array records = info[0].As<Napi::Uint32Array>();
    size_t capacity = records.ElementLength() < kBlockFields ? 0 : (records.ElementLength() - kBlockFields) / kPacketFields;
    uint32_t producer = __atomic_load_n(rx_.producer, __ATOMIC_ACQUIRE);
    uint32_t consumer = *rx_.consumer;  // ours to write
    uint32_t available = producer - consumer;
    if (available > rx_.size) return NumberResult(env, -EPROTO);
    if (available > capacity) available = static_cast<uint32_t>(capacity);
    struct timespec now = {};
    clock_gettime(CLOCK_REALTIME, &now);
    auto* descs = static_cast<const struct xdp_desc*>(rx_.entries);
    uint32_t count = 0;
    uint32_t* out = held_.data() + kBlockFields;
    for (uint32_t i = 0; i < available; i++) {
      struct xdp_desc desc = descs[(consumer + i) & (rx_.size - 1)];
      uint64_t within = desc.addr % frame_size_;
      if (desc.addr >= umem_length_ || desc.len == 0 || desc.len > frame_size_ - within) {
        // Not a frame of ours: its address cannot be trusted to give back either.
        invalid_++;
        continue;
      }
      uint32_t keep = filter_.loaded() ? filter_.Run(umem_ + desc.addr, desc.len) : desc.len;
      if (keep == 0) {
        refused_++;
        pending_.push_back(desc.addr - within);
        continue;
      }
      accepted_++;
      uint32_t* packet = out + size_t(count) * kPacketFields;
      std::memset(packet, 0, kPacketFields * sizeof(uint32_t));
      packet[capture::kPacketOffset] = static_cast<uint32_t>(desc.addr);
      packet[capture::kPacketCaptured] = keep < desc.len ? keep : desc.len;
      packet[capture::kPacketLength] = desc.len;
      packet[capture::kPacketSeconds] = static_cast<uint32_t>(now.tv_sec);
      packet[capture::kPacketNanoseconds] = static_cast<uint32_t>(now.tv_nsec);
      packet[capture::kPacketType] = kPacketTypeNone;
      packet[capture::kPacketRoom] = static_cast<uint32_t>(within);
      count++;
    }
    __atomic_store_n(rx_.consumer, consumer + available, __ATOMIC_RELEASE);
    FlushFill();
    if (count == 0) return NumberResult(env, -EAGAIN);
    held_[capture::kBlockPackets] = count;
    held_[capture::kBlockFlags] = 0;
    held_[capture::kBlockSequenceLow] = static_cast<uint32_t>(sequence_);
    held_[capture::kBlockSequenceHigh] = static_cast<uint32_t>(sequence_ >> 32);
    sequence_++;
    size_t used = kBlockFields + size_t(count) * kPacketFields;
    std::memcpy(records.Data(), held_.data(), used * sizeof(uint32_t));
    napi_value buffer;
    NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, umem_, umem_length_, nullptr, nullptr, &buffer),
                         Napi::Value());
    holding_ = true;
    return Napi::Value(env, buffer);
  }

  // releaseBlock(view) -> 0 | -errno: detaches the batch's ArrayBuffer and puts its frames
  // back on the fill ring (from our own copy of their addresses, not JavaScript's).
  Napi::Value ReleaseBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (umem_ == nullptr) return NumberResult(env, -EBADF);
    if (!holding_) return NumberResult(env, -EINVAL);
    DetachIfView(env, info[0], umem_);
    uint32_t count = held_[capture::kBlockPackets];
    for (uint32_t i = 0; i < count; i++) {
      uint64_t address = held_[kBlockFields + size_t(i) * kPacketFields + capture::kPacketOffset];
      pending_.push_back(address - address % frame_size_);
    }
    holding_ = false;
    FlushFill();
    return NumberResult(env, 0);
  }

  // writePcap() -> -EOPNOTSUPP: pcap files are written from the packet ring's blocks only.
  Napi::Value WritePcap(const Napi::CallbackInfo& info) { return NumberResult(info.Env(), -EOPNOTSUPP); }

  // close(heldView?) -> 0: detaches the held batch's view, takes the program off the
  // interface, closes the socket and unmaps the UMEM and the rings.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    // A held batch whose view was not handed in may still be read: its memory stays (a leak).
    bool detached = !holding_ || (info.Length() > 0 && DetachIfView(info.Env(), info[0], umem_));
    holding_ = false;
    Shutdown(detached);
    return NumberResult(info.Env(), 0);
  }

  void Shutdown(bool unmap_umem) {
    program_.Close();
    if (promiscuous_fd_ >= 0) ::close(promiscuous_fd_);
    promiscuous_fd_ = -1;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    rx_.Unmap();
    fill_.Unmap();
    completion_.Unmap();
    if (umem_ != nullptr && unmap_umem) munmap(umem_, umem_length_);
    umem_ = nullptr;
  }

  // Puts the frames given back on the fill ring, as many as it has room for.
  void FlushFill() {
    if (fill_.map == nullptr || pending_.empty()) return;
    uint32_t producer = *fill_.producer;  // ours to write
    uint32_t consumer = __atomic_load_n(fill_.consumer, __ATOMIC_ACQUIRE);
    uint32_t used = producer - consumer;
    if (used > fill_.size) return;  // the kernel's index is out of bounds: give nothing
    uint32_t room = fill_.size - used;
    size_t count = pending_.size() < room ? pending_.size() : room;
    auto* entries = static_cast<uint64_t*>(fill_.entries);
    for (size_t i = 0; i < count; i++) entries[(producer + i) & (fill_.size - 1)] = pending_[pending_.size() - 1 - i];
    pending_.resize(pending_.size() - count);
    __atomic_store_n(fill_.producer, producer + static_cast<uint32_t>(count), __ATOMIC_RELEASE);
  }

  int fd_ = -1;
  int promiscuous_fd_ = -1;
  uint8_t* umem_ = nullptr;
  size_t umem_length_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t frames_ = 0;
  Ring fill_;
  Ring completion_;
  Ring rx_;
  capture::XdpProgram program_;
  capture::ClassicFilter filter_;
  std::vector<uint64_t> pending_;  // frames to give back to the fill ring
  std::vector<uint32_t> held_;     // the held batch's numbers, as checked here
  uint64_t sequence_ = 0;
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint64_t invalid_ = 0;
  bool holding_ = false;
};

}  // namespace

Napi::Function DefineXdpSocket(Napi::Env env) { return XdpSocket::Define(env); }

}  // namespace zerocopy
