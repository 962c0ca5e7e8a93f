// What the channel tests' peers send and report.

/** The deterministic content of message `index` of `length` bytes. */
export function fillMessage(target: Buffer, index: number): void {
  for (let i = 0; i < target.length; i += 4) {
    const word = (Math.imul(index + 1, 2654435761) ^ Math.imul(i, 40503)) >>> 0;
    if (i + 4 <= target.length) target.writeUInt32LE(word, i);
    else for (let j = i; j < target.length; j++) target[j] = (word >>> ((j - i) * 8)) & 0xff;
  }
}

export interface PeerTask {
  role:
    | 'consume'
    | 'consume-batch'
    | 'produce'
    | 'hold-loan'
    | 'hold-message'
    | 'wait-space'
    | 'scribble'
    | 'count'
    | 'count-batch';
  /** produce: message sizes, cycled; count messages in total. */
  sizes?: number[];
  count?: number;
  /** scribble: for how long (ms). */
  milliseconds?: number;
  spin?: number;
  /** produce: milliseconds to wait before publishing (the consumer is asleep by then). */
  delayMs?: number;
}

export type PeerReport =
  | { kind: 'ready' }
  | { kind: 'done'; count: number; bytes: number; hash: string; ordered?: boolean; sum?: number; missed?: number }
  | { kind: 'error'; code: string; message: string };
