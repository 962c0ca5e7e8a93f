// UDP generic segmentation offload (UDP_SEGMENT): one sendmsg carries many datagrams of one
// size, cut by the kernel (or the device) after the call. A Buffer goes into a UDP socket in
// tens of times fewer calls, and with MSG_ZEROCOPY it is lent once per call instead of once
// per datagram: pinning pages and reading a completion for every 1.4 kB datagram costs more
// than copying it.
import { constants as osConstants } from 'node:os';

import { binding } from '../../binding/load.js';
import { systemError } from '../../errors.js';
import type { GsoSendReport } from '../types.js';

/**
 * Datagrams one send carries at most: the kernel's UDP_MAX_SEGMENTS, 64 from UDP_SEGMENT's
 * start (Linux 4.18) and raised to 128 later (6.18 here takes 128 and refuses 129 with EINVAL).
 * 64 is accepted by every kernel that has UDP_SEGMENT.
 */
export const GSO_MAX_SEGMENTS = 64;

const { EIO, EINVAL, EMSGSIZE } = osConstants.errno;

/** How one transfer cuts a Buffer into UDP sends; fills report.gso. */
export class Segmentation {
  /** Sends that carried more than one datagram. */
  sends = 0;
  #reason: string;
  #errno: string | undefined;
  #on: boolean;

  /**
   * `segmentBytes`: one datagram (the path MTU less headers). `sendBytes`: the most one send
   * may carry, a whole number of datagrams within the largest UDP payload, so that every
   * send but the transfer's last ends on a datagram boundary, as one datagram per send did.
   */
  constructor(
    readonly segmentBytes: number,
    readonly sendBytes: number,
  ) {
    this.#on = sendBytes > segmentBytes;
    this.#reason = this.#on
      ? `UDP_SEGMENT: up to ${sendBytes / segmentBytes} datagrams of ${segmentBytes} bytes per send`
      : `a datagram of ${segmentBytes} bytes fills a UDP packet: one datagram per send`;
  }

  /** Most bytes the next send may carry. */
  get limit(): number {
    return this.#on ? this.sendBytes : this.segmentBytes;
  }

  /** Whether a send of `length` bytes goes as one segmented send. */
  segments(length: number): boolean {
    return this.#on && length > this.segmentBytes;
  }

  /** One send of `chunk` (at most `limit` bytes): bytes sent or -errno. */
  send(fd: number, chunk: Uint8Array, flags: number): number {
    const native = binding();
    if (!this.segments(chunk.byteLength)) return native.send(fd, chunk, flags);
    const result = native.sendSegments(fd, chunk, flags, this.segmentBytes);
    if (result > 0) this.sends++;
    return result;
  }

  /**
   * Whether `result`, of a send of `length` bytes, is the kernel refusing UDP_SEGMENT: a device
   * without checksum offload (EIO), a socket with UDP checksums off or a kernel without it
   * (EINVAL), a segment the path no longer fits (EINVAL, EMSGSIZE). UDP sends all or nothing,
   * so nothing went out; segmentation is off for the rest of the transfer.
   */
  refused(result: number, length: number): boolean {
    if (!this.segments(length) || (result !== -EINVAL && result !== -EIO && result !== -EMSGSIZE)) return false;
    this.turnOff(systemError(result, 'sendmsg').code as string);
    return true;
  }

  /** One datagram per send from now on, because the kernel answered `errno` to UDP_SEGMENT. */
  turnOff(errno: string): void {
    this.#on = false;
    this.#errno = errno;
    this.#reason = `the kernel refused UDP_SEGMENT (${errno}): one datagram per send`;
  }

  report(): GsoSendReport {
    const report: GsoSendReport = {
      used: this.sends > 0,
      segmentBytes: this.segmentBytes,
      sends: this.sends,
      reason: this.#reason,
    };
    if (this.#errno !== undefined) report.errno = this.#errno;
    return report;
  }
}

/** The plan for a connected UDP socket whose datagrams carry `segmentBytes`, in payloads of at most `largestPayload`. */
export function planSegmentation(segmentBytes: number, largestPayload: number): Segmentation {
  const segments = Math.max(1, Math.min(GSO_MAX_SEGMENTS, Math.floor(largestPayload / segmentBytes)));
  return new Segmentation(segmentBytes, segments * segmentBytes);
}
