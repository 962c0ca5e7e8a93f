// Cooperative scheduling for loops that run system calls on the event-loop thread.
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * A transfer whose calls never wait (a hot file into a fast socket) would otherwise hold
 * the event loop for its whole length. After `sliceMs` of continuous work the loop gives
 * the event loop a turn, so timers and other connections keep being served.
 */
export class Pacer {
  #sliceStart = performance.now();

  constructor(private readonly sliceMs = 2) {}

  /** Call after each unit of inline work. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.yieldNow();
  }

  /**
   * Whether the slice is used up. Hot loops test this and only then `await yieldNow()`:
   * an `await maybeYield()` costs a promise and a microtask turn on every call.
   */
  due(): boolean {
    return performance.now() - this.#sliceStart >= this.sliceMs;
  }

  /** Gives the event loop a turn and starts a new slice. */
  async yieldNow(): Promise<void> {
    await nextTurn();
    this.#sliceStart = performance.now();
  }

  /** Call after the loop waited anyway (readiness, thread pool): the event loop already had its turn. */
  waited(): void {
    this.#sliceStart = performance.now();
  }
}
