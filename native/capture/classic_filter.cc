#include "capture/classic_filter.h"

#include <cerrno>

namespace zerocopy::capture {

namespace {

constexpr uint32_t kMemWords = BPF_MEMWORDS;

bool KnownCode(uint16_t code) {
  switch (code) {
    case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
    case BPF_LD | BPF_IMM: case BPF_LD | BPF_MEM: case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_MEM: case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_B | BPF_MSH:
    case BPF_ST: case BPF_STX:
    case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
    case BPF_RET | BPF_K: case BPF_RET | BPF_A:
    case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
      return true;
    default:
      return false;
  }
}

bool Load(const uint8_t* frame, uint32_t length, uint32_t offset, uint32_t size, uint32_t* value) {
  if (offset > length || size > length - offset) return false;
  const uint8_t* p = frame + offset;
  if (size == 4) *value = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  else if (size == 2) *value = (uint32_t(p[0]) << 8) | p[1];
  else *value = p[0];
  return true;
}

uint32_t SizeOf(uint16_t code) {
  switch (BPF_SIZE(code)) {
    case BPF_W: return 4;
    case BPF_H: return 2;
    default: return 1;
  }
}

}  // namespace

int ClassicFilter::Load(const uint32_t* words, size_t count) {
  program_.clear();
  if (count == 0 || count > BPF_MAXINSNS) return -EINVAL;
  std::vector<struct sock_filter> program(count);
  for (size_t pc = 0; pc < count; pc++) {
    const uint32_t* w = words + pc * 4;
    if (w[0] > 0xffff || w[1] > 0xff || w[2] > 0xff) return -EINVAL;
    struct sock_filter insn = {static_cast<uint16_t>(w[0]), static_cast<uint8_t>(w[1]), static_cast<uint8_t>(w[2]), w[3]};
    if (!KnownCode(insn.code)) return -EINVAL;
    uint16_t cls = BPF_CLASS(insn.code);
    if (cls == BPF_JMP && BPF_OP(insn.code) == BPF_JA) {
      if (insn.k >= count - pc - 1) return -EINVAL;
    } else if (cls == BPF_JMP) {
      if (pc + 1 + insn.jt >= count || pc + 1 + insn.jf >= count) return -EINVAL;
    }
    if ((insn.code == (BPF_LD | BPF_MEM) || insn.code == (BPF_LDX | BPF_MEM) || cls == BPF_ST || cls == BPF_STX) &&
        insn.k >= kMemWords) {
      return -EINVAL;
    }
    if ((insn.code == (BPF_ALU | BPF_DIV | BPF_K) || insn.code == (BPF_ALU | BPF_MOD | BPF_K)) && insn.k == 0) {
      return -EINVAL;
    }
    // Absolute loads from the kernel's negative offsets: ancillary data (SKF_AD_OFF) and the
    // network or link layer relative loads (SKF_NET_OFF, SKF_LL_OFF).
    if (cls == BPF_LD && BPF_MODE(insn.code) == BPF_ABS && insn.k >= uint32_t(SKF_LL_OFF)) return -EOPNOTSUPP;
    program[pc] = insn;
  }
  if (BPF_CLASS(program[count - 1].code) != BPF_RET) return -EINVAL;
  program_ = std::move(program);
  return 0;
}

uint32_t ClassicFilter::Run(const uint8_t* frame, uint32_t length) const {
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t mem[kMemWords] = {};
  const size_t count = program_.size();
  for (size_t pc = 0; pc < count; pc++) {
    const struct sock_filter& insn = program_[pc];
    uint32_t k = insn.k;
    uint32_t value = 0;
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
        if (!capture::Load(frame, length, k, SizeOf(insn.code), &value)) return 0;
        a = value;
        break;
      case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
        if (k + x < k || !capture::Load(frame, length, k + x, SizeOf(insn.code), &value)) return 0;
        a = value;
        break;
      case BPF_LD | BPF_IMM: a = k; break;
      case BPF_LD | BPF_MEM: a = mem[k]; break;
      case BPF_LD | BPF_W | BPF_LEN: a = length; break;
      case BPF_LDX | BPF_IMM: x = k; break;
      case BPF_LDX | BPF_MEM: x = mem[k]; break;
      case BPF_LDX | BPF_W | BPF_LEN: x = length; break;
      case BPF_LDX | BPF_B | BPF_MSH:
        if (!capture::Load(frame, length, k, 1, &value)) return 0;
        x = (value & 0xf) << 2;
        break;
      case BPF_ST: mem[k] = a; break;
      case BPF_STX: mem[k] = x; break;
      case BPF_ALU | BPF_ADD | BPF_K: a += k; break;
      case BPF_ALU | BPF_ADD | BPF_X: a += x; break;
      case BPF_ALU | BPF_SUB | BPF_K: a -= k; break;
      case BPF_ALU | BPF_SUB | BPF_X: a -= x; break;
      case BPF_ALU | BPF_MUL | BPF_K: a *= k; break;
      case BPF_ALU | BPF_MUL | BPF_X: a *= x; break;
      case BPF_ALU | BPF_DIV | BPF_K: a /= k; break;
      case BPF_ALU | BPF_DIV | BPF_X:
        if (x == 0) return 0;
        a /= x;
        break;
      case BPF_ALU | BPF_MOD | BPF_K: a %= k; break;
      case BPF_ALU | BPF_MOD | BPF_X:
        if (x == 0) return 0;
        a %= x;
        break;
      case BPF_ALU | BPF_AND | BPF_K: a &= k; break;
      case BPF_ALU | BPF_AND | BPF_X: a &= x; break;
      case BPF_ALU | BPF_OR | BPF_K: a |= k; break;
      case BPF_ALU | BPF_OR | BPF_X: a |= x; break;
      case BPF_ALU | BPF_XOR | BPF_K: a ^= k; break;
      case BPF_ALU | BPF_XOR | BPF_X: a ^= x; break;
      // The kernel runs these as eBPF 32-bit shifts, which take the count modulo 32.
      case BPF_ALU | BPF_LSH | BPF_K: a <<= (k & 31); break;
      case BPF_ALU | BPF_LSH | BPF_X: a <<= (x & 31); break;
      case BPF_ALU | BPF_RSH | BPF_K: a >>= (k & 31); break;
      case BPF_ALU | BPF_RSH | BPF_X: a >>= (x & 31); break;
      case BPF_ALU | BPF_NEG: a = 0u - a; break;
      case BPF_JMP | BPF_JA: pc += k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == k ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JEQ | BPF_X: pc += a == x ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > k ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JGT | BPF_X: pc += a > x ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= k ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JGE | BPF_X: pc += a >= x ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & k) != 0 ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JSET | BPF_X: pc += (a & x) != 0 ? insn.jt : insn.jf; break;
      case BPF_RET | BPF_K: return k;
      case BPF_RET | BPF_A: return a;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;
      default: return 0;  // Load() let no other code in
    }
  }
  return 0;
}

}  // namespace zerocopy::capture
