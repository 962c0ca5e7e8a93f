// Waiting for a descriptor to become readable or writable without blocking the event loop.
import { binding } from '../binding/load.js';
import type { NativePoller } from '../binding/native.js';
import { systemError } from '../errors.js';
import { abortError } from './abort.js';

export type Direction = 'readable' | 'writable';

interface Waiter {
  fd: number;
  resolve: (events: number) => void;
  reject: (error: Error) => void;
  onAbort?: () => void;
  signal?: AbortSignal;
}

/**
 * One private epoll set per thread, watched by a single libuv poll handle (libuv allows
 * only one handle per descriptor, and Node's socket handle already is one). Callers wait
 * on descriptors they own (dups), never on Node's: the number stays theirs until they
 * forget() and close it.
 */
class Readiness {
  #poller: NativePoller | undefined;
  #waiters = new Map<number, Waiter>();
  /** Descriptors in the epoll set, and whether a one-shot registration is pending. */
  #registered = new Map<number, { armed: boolean; token: number }>();
  #nextToken = 1;

  #getPoller(): NativePoller {
    this.#poller ??= new (binding().Poller)((events) => this.#deliver(events));
    return this.#poller;
  }

  #deliver(events: number[]): void {
    for (let i = 0; i < events.length; i += 2) {
      const token = events[i] as number;
      const waiter = this.#waiters.get(token);
      if (waiter === undefined) continue;
      this.#waiters.delete(token);
      const registration = this.#registered.get(waiter.fd);
      if (registration !== undefined) registration.armed = false;
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(events[i + 1] as number);
    }
  }

  /** Resolves with the epoll events once `fd` is ready (errors and hang-ups count as ready: the next call reports them). */
  wait(fd: number, direction: Direction, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const { constants } = binding();
    const poller = this.#getPoller();
    const token = this.#nextToken++;
    const events = direction === 'readable' ? constants.EPOLLIN | constants.EPOLLRDHUP : constants.EPOLLOUT;
    const existing = this.#registered.get(fd);
    const result = poller.arm(fd, events, token, existing === undefined ? 1 : 0);
    if (result < 0) return Promise.reject(systemError(result, 'epoll_ctl'));
    this.#registered.set(fd, { armed: true, token });
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { fd, resolve, reject };
      if (signal !== undefined) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          this.#waiters.delete(token);
          this.forget(fd);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.set(token, waiter);
    });
  }

  /** Takes `fd` out of the set; call before closing it. */
  forget(fd: number): void {
    const registration = this.#registered.get(fd);
    if (registration === undefined) return;
    this.#registered.delete(fd);
    this.#waiters.delete(registration.token);
    this.#getPoller().disarm(fd, registration.armed ? 1 : 0);
  }
}

export const readiness = new Readiness();
