// The Node-API glue of a packet capture socket: an AF_PACKET socket with a TPACKET_V3
// receive ring mapped into the process. The kernel fills whole blocks of packets; JavaScript
// takes the next full block as one external ArrayBuffer (the packets are views into it) and
// hands it back, which detaches that ArrayBuffer so no view outlives the block's loan.
//
// Policy (sizes, fanout group, which filter, what a drop means) is TypeScript's; each method
// is one step of setting the socket up and returns its result or -errno. Waiting for a block
// goes through the project's poller (the socket is non-blocking): nothing here sleeps.
//
// A held block can be written to a pcap file on the thread pool (writePcap). The write reads
// the mapping after this call returns, so the mapping is shared with every write in flight:
// close() closes the socket at once but the memory is unmapped only when the last write is
// done, and a block released while written goes back to the kernel only then.
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "capture/block_reader.h"
#include "capture/link_socket.h"
#include "capture/pcap_write.h"
#include "common/args.h"
#include "common/pool.h"
#include "common/views.h"
#include "exports.h"

namespace zerocopy {

namespace {

using capture::kBlockFields;
using capture::kMinPacketBytes;
using capture::kPacketFields;

// The ring's memory, shared by the PacketRing and every pcap write in flight: unmapped when
// the last of them lets go. Touched on the event-loop thread only (a write's completion runs
// there), except for the bytes a write reads.
struct Mapping {
  uint8_t* base = nullptr;
  size_t length = 0;
  uint32_t block_size = 0;
  std::vector<uint32_t> writing;    // per block: writes in flight
  std::vector<bool> give_back;      // per block: released while written; the kernel gets it after
  bool closed = false;              // the socket is closed: no block goes back any more
  bool leaked = false;              // a view may outlive the PacketRing: never unmapped

  Mapping(uint8_t* ring, size_t bytes, uint32_t block_bytes, uint32_t blocks)
      : base(ring), length(bytes), block_size(block_bytes), writing(blocks, 0), give_back(blocks, false) {}
  ~Mapping() {
    if (!leaked) munmap(base, length);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  uint8_t* Block(uint32_t index) const { return base + size_t(index) * block_size; }
  static void GiveToKernel(uint8_t* block) {
    auto* desc = reinterpret_cast<struct tpacket_block_desc*>(block);
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
};

class PacketRing : public Napi::ObjectWrap<PacketRing> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function constructor = DefineClass(
        env, "PacketRing",
        {InstanceMethod("open", &PacketRing::Open), InstanceMethod("attachFilter", &PacketRing::AttachFilter),
         InstanceMethod("setupRing", &PacketRing::SetupRing), InstanceMethod("bind", &PacketRing::Bind),
         InstanceMethod("setPromiscuous", &PacketRing::SetPromiscuous),
         InstanceMethod("joinFanout", &PacketRing::JoinFanout), InstanceMethod("statistics", &PacketRing::Statistics),
         InstanceMethod("socketError", &PacketRing::SocketError), InstanceMethod("nextBlock", &PacketRing::NextBlock),
         InstanceMethod("releaseBlock", &PacketRing::ReleaseBlock),
         InstanceMethod("writePcap", &PacketRing::WritePcap), InstanceMethod("close", &PacketRing::Close),
         StaticMethod("interfaceIndex", &PacketRing::InterfaceIndex)});
    Napi::Object layout = Napi::Object::New(env);
    layout.Set("blockFields", static_cast<double>(kBlockFields));
    layout.Set("packetFields", static_cast<double>(kPacketFields));
    layout.Set("minPacketBytes", static_cast<double>(kMinPacketBytes));
    layout.Set("pageSize", static_cast<double>(sysconf(_SC_PAGESIZE)));
    layout.Set("frameAlignment", static_cast<double>(TPACKET_ALIGNMENT));
    layout.Set("minFrameBytes", static_cast<double>(TPACKET3_HDRLEN));
    layout.Set("maxFilterInstructions", static_cast<double>(BPF_MAXINSNS));
    layout.Freeze();
    constructor.Set("layout", layout);
    Napi::Object kernel = Napi::Object::New(env);
    kernel.Set("fanoutHash", PACKET_FANOUT_HASH);
    kernel.Set("fanoutLoadBalance", PACKET_FANOUT_LB);
    kernel.Set("fanoutCpu", PACKET_FANOUT_CPU);
    kernel.Set("fanoutRandom", PACKET_FANOUT_RND);
    kernel.Set("fanoutRollover", PACKET_FANOUT_ROLLOVER);
    kernel.Set("fanoutFlagDefrag", PACKET_FANOUT_FLAG_DEFRAG);
    kernel.Set("fanoutFlagRollover", PACKET_FANOUT_FLAG_ROLLOVER);
    kernel.Set("statusVlanValid", TP_STATUS_VLAN_VALID);
    kernel.Set("statusVlanTpidValid", TP_STATUS_VLAN_TPID_VALID);
    kernel.Set("blockTimedOut", TP_STATUS_BLK_TMO);
    kernel.Set("packetHost", PACKET_HOST);
    kernel.Set("packetBroadcast", PACKET_BROADCAST);
    kernel.Set("packetMulticast", PACKET_MULTICAST);
    kernel.Set("packetOtherHost", PACKET_OTHERHOST);
    kernel.Set("packetOutgoing", PACKET_OUTGOING);
    kernel.Set("ancillaryPacketType", static_cast<double>(SKF_AD_OFF + SKF_AD_PKTTYPE));
    kernel.Freeze();
    constructor.Set("kernel", kernel);
    return constructor;
  }

  explicit PacketRing(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketRing>(info) {}

  ~PacketRing() override {
    // Collected without close(): a block's view may still be alive in JavaScript, so the
    // mapping stays (a leak) rather than leave a view onto unmapped memory.
    if (fd_ >= 0) ::close(fd_);
    if (mapping_ != nullptr) {
      mapping_->closed = true;
      if (holding_) mapping_->leaked = true;
    }
  }

 private:
  // interfaceIndex(name) -> index | -errno (-ENODEV: no such interface)
  static Napi::Value InterfaceIndex(const Napi::CallbackInfo& info) {
    std::string name = info[0].As<Napi::String>().Utf8Value();
    unsigned index = if_nametoindex(name.c_str());
    return NumberResult(info.Env(), index == 0 ? -errno : static_cast<int64_t>(index));
  }

  // open() -> fd | -errno. Protocol 0: nothing is queued until bind() names the interface,
  // so no packet of another interface, or from before the filter, ever reaches the ring.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) return NumberResult(info.Env(), -EISCONN);
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return NumberResult(info.Env(), fd_ < 0 ? -errno : fd_);
  }

  // attachFilter(program: Uint32Array of [code, jt, jf, k] per instruction) -> 0 | -errno
  Napi::Value AttachFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "program must be a Uint32Array");
    }
    Napi::Uint32Array words = info[0].As<Napi::Uint32Array>();
    size_t count = words.ElementLength() / 4;
    if (count == 0 || count > BPF_MAXINSNS) return NumberResult(env, -EINVAL);
    struct sock_filter program[BPF_MAXINSNS];
    for (size_t i = 0; i < count; i++) {
      program[i].code = static_cast<uint16_t>(words[i * 4]);
      program[i].jt = static_cast<uint8_t>(words[i * 4 + 1]);
      program[i].jf = static_cast<uint8_t>(words[i * 4 + 2]);
      program[i].k = words[i * 4 + 3];
    }
    struct sock_fprog fprog = {static_cast<unsigned short>(count), program};
    int result = setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog));
    return NumberResult(env, result < 0 ? -errno : 0);
  }

  // setupRing(blockSize, blocks, frameSize, retireTimeoutMs) -> 0 | -errno: TPACKET_V3, the
  // receive ring, and its mapping.
  Napi::Value SetupRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    if (ring_ != nullptr) return NumberResult(env, -EISCONN);
    int version = TPACKET_V3;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0) return NumberResult(env, -errno);
    struct tpacket_req3 request = {};
    request.tp_block_size = static_cast<unsigned>(SizeArg(info, 0));
    request.tp_block_nr = static_cast<unsigned>(SizeArg(info, 1));
    request.tp_frame_size = static_cast<unsigned>(SizeArg(info, 2));
    if (request.tp_frame_size == 0 || request.tp_block_size < request.tp_frame_size) return NumberResult(env, -EINVAL);
    request.tp_frame_nr = (request.tp_block_size / request.tp_frame_size) * request.tp_block_nr;
    request.tp_retire_blk_tov = static_cast<unsigned>(SizeArg(info, 3));
    if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &request, sizeof(request)) < 0) return NumberResult(env, -errno);
    size_t length = size_t(request.tp_block_size) * request.tp_block_nr;
    void* ring = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd_, 0);
    if (ring == MAP_FAILED) {
      // MAP_LOCKED fails past RLIMIT_MEMLOCK; the ring's pages are the kernel's anyway.
      ring = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
      if (ring == MAP_FAILED) return NumberResult(env, -errno);
    }
    ring_ = static_cast<uint8_t*>(ring);
    mapping_ = std::make_shared<Mapping>(ring_, length, request.tp_block_size, request.tp_block_nr);
    block_size_ = request.tp_block_size;
    // Room for the most packets a block can hold.
    held_.assign(kBlockFields + (block_size_ / kMinPacketBytes + 1) * kPacketFields, 0);
    block_count_ = request.tp_block_nr;
    next_ = 0;
    return NumberResult(env, 0);
  }

  // bind(ifindex) -> the interface's ARPHRD_ type | -errno
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    struct sockaddr_ll address = {};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = IntArg(info, 0);
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) < 0) return NumberResult(env, -errno);
    struct sockaddr_ll bound = {};
    socklen_t length = sizeof(bound);
    if (getsockname(fd_, reinterpret_cast<struct sockaddr*>(&bound), &length) < 0) return NumberResult(env, -errno);
    return NumberResult(env, bound.sll_hatype);
  }

  // setPromiscuous(ifindex) -> 0 | -errno; the kernel drops the membership when the socket closes.
  Napi::Value SetPromiscuous(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    return NumberResult(env, capture::JoinPromiscuous(fd_, IntArg(info, 0)));
  }

  // joinFanout(argument: group | (mode | flags) << 16) -> 0 | -errno
  Napi::Value JoinFanout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    uint32_t argument = static_cast<uint32_t>(Int64Arg(info, 0));
    int result = setsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &argument, sizeof(argument));
    return NumberResult(env, result < 0 ? -errno : 0);
  }

  // statistics(out: Uint32Array(3)) -> 0 | -errno; out gets [packets, drops, freezes] since
  // the last call (the kernel resets its counters on every read; packets includes drops).
  Napi::Value Statistics(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    Napi::Uint32Array out = info[0].As<Napi::Uint32Array>();
    if (out.ElementLength() < 3) throw Napi::TypeError::New(env, "out must be a Uint32Array of 3");
    struct tpacket_stats_v3 stats = {};
    socklen_t length = sizeof(stats);
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &length) < 0) return NumberResult(env, -errno);
    out[0] = stats.tp_packets;
    out[1] = stats.tp_drops;
    out[2] = stats.tp_freeze_q_cnt;
    return NumberResult(env, 0);
  }

  // socketError() -> 0 | -errno: the error the socket reported with EPOLLERR (ENETDOWN, ...).
  Napi::Value SocketError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return NumberResult(env, -EBADF);
    return NumberResult(env, capture::PendingSocketError(fd_));
  }

  // nextBlock(records: Uint32Array) -> ArrayBuffer over the next block the kernel handed
  // over | -errno (-EAGAIN: none yet; -EBUSY: the last one was not released; -EPROTO: a
  // block whose numbers point outside it, given back at once). records gets the block's
  // fields and each packet's (PacketRing.layout).
  Napi::Value NextBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr) return NumberResult(env, -EBADF);
    if (holding_) return NumberResult(env, -EBUSY);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "records must be a Uint32Array");
    }
    Napi::Uint32Array records = info[0].As<Napi::Uint32Array>();
    // Released while a write still read it: the kernel has not had it back yet.
    if (mapping_->writing[next_] > 0) return NumberResult(env, -EAGAIN);
    uint8_t* block = CurrentBlock();
    auto* desc = reinterpret_cast<struct tpacket_block_desc*>(block);
    uint32_t status = __atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) return NumberResult(env, -EAGAIN);
    // Read into our own copy first: writePcap() works from it, not from numbers JavaScript can change.
    int64_t count = capture::ReadBlock(block, block_size_, held_.data(), held_.size());
    if (count >= 0) {
      size_t used = kBlockFields + size_t(count) * kPacketFields;
      if (records.ElementLength() < used) {
        count = -EOVERFLOW;
      } else {
        std::memcpy(records.Data(), held_.data(), used * sizeof(uint32_t));
      }
    }
    if (count < 0) {
      GiveBack(desc);
      return NumberResult(env, count);
    }
    napi_value buffer;
    NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, block, block_size_, nullptr, nullptr, &buffer),
                         Napi::Value());
    holding_ = true;
    return Napi::Value(env, buffer);
  }

  // releaseBlock(view) -> 0 | -errno: detaches the block's ArrayBuffer and hands the block
  // back to the kernel.
  Napi::Value ReleaseBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr) return NumberResult(env, -EBADF);
    if (!holding_) return NumberResult(env, -EINVAL);
    uint8_t* block = CurrentBlock();
    DetachIfView(env, info[0], block);
    GiveBack(reinterpret_cast<struct tpacket_block_desc*>(block));
    return NumberResult(env, 0);
  }

  // writePcap(fd, limit, prefix?) -> Promise<bytes written | -errno> | -errno: writes the
  // first `limit` packets of the held block to `fd` as pcap records (after `prefix`, the file
  // header, if given), on the thread pool. The record headers are written into the block
  // here, on the calling thread; the caller keeps `fd` open until the Promise settles.
  Napi::Value WritePcap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr) return NumberResult(env, -EBADF);
    if (!holding_) return NumberResult(env, -EINVAL);
    int fd = IntArg(info, 0);
    uint32_t limit = static_cast<uint32_t>(SizeArg(info, 1));
    auto records = std::make_shared<capture::PcapRecords>();
    if (info.Length() > 2 && info[2].IsTypedArray()) {
      Napi::Uint8Array prefix = info[2].As<Napi::Uint8Array>();
      records->prefix.assign(prefix.Data(), prefix.Data() + prefix.ByteLength());
      records->iov.push_back({records->prefix.data(), records->prefix.size()});
      records->bytes += records->prefix.size();
    }
    capture::BuildPcapRecords(CurrentBlock(), held_.data(), held_[capture::kBlockPackets], limit, records.get());
    std::shared_ptr<Mapping> mapping = mapping_;
    uint32_t index = next_;
    mapping->writing[index]++;
    return RunInPool(
        env, [fd, records] { return capture::WriteAll(fd, records->iov); },
        [mapping, index] {
          if (--mapping->writing[index] > 0 || !mapping->give_back[index]) return;
          mapping->give_back[index] = false;
          if (!mapping->closed) Mapping::GiveToKernel(mapping->Block(index));
        });
  }

  // close(heldView?) -> 0: detaches the held block's view, closes the socket and unmaps the
  // ring (once no pcap write reads it).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ != nullptr) {
      if (holding_ && info.Length() > 0) DetachIfView(env, info[0], CurrentBlock());
      // Unmapped now, or when the last write in flight is done.
      mapping_->closed = true;
      mapping_.reset();
      ring_ = nullptr;
      holding_ = false;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return NumberResult(env, 0);
  }

  uint8_t* CurrentBlock() const { return ring_ + size_t(next_) * block_size_; }

  // Hands the current block back to the kernel: now, or once the writes reading it are done.
  void GiveBack(struct tpacket_block_desc* desc) {
    if (mapping_->writing[next_] > 0) {
      mapping_->give_back[next_] = true;
    } else {
      __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    }
    next_ = (next_ + 1) % block_count_;
    holding_ = false;
  }

  int fd_ = -1;
  uint8_t* ring_ = nullptr;
  std::shared_ptr<Mapping> mapping_;
  std::vector<uint32_t> held_;  // the held block's numbers, as ReadBlock checked them
  uint32_t block_size_ = 0;
  uint32_t block_count_ = 0;
  uint32_t next_ = 0;
  bool holding_ = false;
};

}  // namespace

Napi::Function DefinePacketRing(Napi::Env env) { return PacketRing::Define(env); }

}  // namespace zerocopy
