// Cooperative scheduling for loops that run system calls on the event-loop thread.
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * When this turn of the event loop started running transfer work, for every transfer in
 * the process together: sixteen transfers woken by one epoll callback share one budget,
 * instead of each taking its own slice while timers wait.
 */
let turnStart: number | undefined;

function endTurn(): void {
  turnStart = undefined;
}

/**
 * A transfer whose calls never wait (a hot file into a fast socket), or many transfers
 * woken together, would otherwise hold the event loop for as long as they have work. Once
 * a turn has spent `sliceMs` on transfer work, loops give the event loop a turn before
 * their next call, so timers and other connections keep being served.
 */
/** How long work on the event-loop thread may run per turn (also the native front's turn). */
export const TURN_SLICE_MS = 2;

export class Pacer {
  constructor(private readonly sliceMs = TURN_SLICE_MS) {}

  /**
   * Whether this turn's budget is spent. Call before each inline system call, and only then
   * `await yieldNow()`: awaiting on every call would cost a promise and a microtask each.
   */
  due(): boolean {
    const now = performance.now();
    if (turnStart === undefined) {
      turnStart = now;
      // Runs in the check phase, after everything this turn started: the next turn starts fresh.
      setImmediate(endTurn);
      return false;
    }
    return now - turnStart >= this.sliceMs;
  }

  /** Gives the event loop a turn. */
  async yieldNow(): Promise<void> {
    await nextTurn();
  }

  /** For loops that check after their work rather than before it. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.yieldNow();
  }
}
