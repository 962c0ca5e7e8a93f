// What the kernel still holds of one socket's MSG_ZEROCOPY sends, and what it said about them.
import type { Socket } from 'node:net';

import { binding } from '../../binding/load.js';
import { systemError } from '../../errors.js';

/**
 * What the completions of a socket's sends said: 'copied' once any said the kernel copied
 * the bytes after all (loopback, veth into a local socket, a device without scatter-gather),
 * 'zero-copy' once one said it did not, 'unknown' before the first arrives.
 */
export type Verdict = 'unknown' | 'zero-copy' | 'copied';

/** Notifications one recvmsg loop drains at most before returning (the kernel merges ranges, so this is many sends). */
const NOTIFICATIONS_PER_REAP = 256;

/**
 * The kernel numbers a socket's successful MSG_ZEROCOPY sends 0, 1, 2, ... (32 bits,
 * wrapping) and later reports ranges of those numbers as done. The ledger numbers sends the
 * same way, and holds a view of the bytes each one lent until its number is reported: the
 * view keeps the Buffer's memory from being freed and handed to another allocation while
 * the kernel may still read it.
 */
export class SendLedger {
  #next = 0;
  readonly #held = new Map<number, Uint8Array>();
  verdict: Verdict = 'unknown';
  /** Sends reported done, and how many of them the kernel copied anyway. */
  released = 0;
  copied = 0;
  /** recvmsg calls that read completions. */
  reaps = 0;
  /** The errno with which the kernel refused UDP_SEGMENT on this socket, once it has. */
  segmentationRefused: string | undefined;

  /** Sends whose pages the kernel may still read. */
  get outstanding(): number {
    return this.#held.size;
  }

  /** Bytes of those sends. */
  get heldBytes(): number {
    let total = 0;
    for (const bytes of this.#held.values()) total += bytes.byteLength;
    return total;
  }

  /** Records a send that returned `bytes.byteLength` > 0 with MSG_ZEROCOPY. */
  lend(bytes: Uint8Array): void {
    this.#held.set(this.#next, bytes);
    this.#next = (this.#next + 1) >>> 0;
  }

  /**
   * Reads every completion waiting on the error queue (until EAGAIN), without blocking, and
   * lets go of the bytes of the sends they cover. Returns how many sends were released.
   */
  reap(fd: number): number {
    const result = binding().readZerocopyCompletions(fd, NOTIFICATIONS_PER_REAP);
    this.reaps++;
    if (typeof result === 'number') throw systemError(result, 'recvmsg');
    let count = 0;
    for (const [first, last, copied] of result) {
      const released = this.#release(first, last);
      // A send the kernel numbered and then refused (a UDP_SEGMENT send refused after its
      // datagram was built) completes like any other: its number was never lent here, and the
      // next send's number is the one after it.
      if ((this.#next - first) >>> 0 <= (last - first) >>> 0) this.#next = (last + 1) >>> 0;
      if (released === 0) continue;
      count += released;
      if (copied === 1) {
        this.copied += released;
        this.verdict = 'copied';
      } else if (this.verdict === 'unknown') this.verdict = 'zero-copy';
    }
    this.released += count;
    return count;
  }

  /**
   * Lets go of the held sends numbered `first` to `last` (wrapping); how many there were. A
   * range wider than what is held (up to 2^32 numbers, from a kernel that numbers someone
   * else's sends too) is matched against the held numbers instead of walked.
   */
  #release(first: number, last: number): number {
    const width = (last - first) >>> 0;
    let count = 0;
    if (width < this.#held.size) {
      for (let i = 0; i <= width; i++) {
        if (this.#held.delete((first + i) >>> 0)) count++;
      }
      return count;
    }
    for (const held of this.#held.keys()) {
      if ((held - first) >>> 0 <= width && this.#held.delete(held)) count++;
    }
    return count;
  }

  /**
   * Keeps the bytes of sends still outstanding referenced for the life of the process: for a
   * socket given up on before the kernel said it was done with them (the memory must never be
   * reused while it might still be read).
   */
  orphan(): void {
    for (const bytes of this.#held.values()) orphans.push(bytes);
    this.#held.clear();
  }
}

const orphans: Uint8Array[] = [];

/** Bytes held for good by orphan(): a test and `doctor` can see that it happened. */
export function orphanedBytes(): number {
  let total = 0;
  for (const bytes of orphans) total += bytes.byteLength;
  return total;
}

// One ledger per socket for as long as the socket lives: the kernel's numbering runs on
// across transfers. Node sockets are keys of a WeakMap (a ledger goes with its socket);
// bare descriptors are known by their socket inode, which no other socket has while this
// one is open. A ledger outlives its descriptor, though, and socket inode numbers are a
// wrapping 32-bit counter: a later socket can find a ledger that is not its own (the caller
// checks, see forgetLedger()).
const bySocket = new WeakMap<Socket, SendLedger>();
const byInode = new Map<string, SendLedger>();
/** Ledgers of bare descriptors kept at most; the oldest idle one goes first. */
const MAX_DESCRIPTOR_LEDGERS = 4096;

export function existingLedger(socket: Socket | undefined, device: number, inode: number): SendLedger | undefined {
  return socket !== undefined ? bySocket.get(socket) : byInode.get(`${device}:${inode}`);
}

/**
 * Drops the ledger of a bare descriptor whose socket is gone (another socket has its inode
 * number now). Sends it still holds stay referenced for good: nothing says the kernel is done
 * with them.
 */
export function forgetLedger(device: number, inode: number): void {
  const key = `${device}:${inode}`;
  byInode.get(key)?.orphan();
  byInode.delete(key);
}

export function newLedger(socket: Socket | undefined, device: number, inode: number): SendLedger {
  const ledger = new SendLedger();
  if (socket !== undefined) {
    bySocket.set(socket, ledger);
    return ledger;
  }
  if (byInode.size >= MAX_DESCRIPTOR_LEDGERS) {
    for (const [key, old] of byInode) {
      if (old.outstanding === 0) {
        byInode.delete(key);
        break;
      }
    }
  }
  byInode.set(`${device}:${inode}`, ledger);
  return ledger;
}
