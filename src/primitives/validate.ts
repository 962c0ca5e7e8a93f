// Argument checks that run before any system call, with Node's error codes.
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';

const MAX_FD = 2 ** 31 - 1;

/** A file offset or a length: a non-negative safe integer, given as a number or a bigint. */
export type Offset = number | bigint;

export function validateFd(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > MAX_FD) {
    throw outOfRange(name, `an integer >= 0 && <= ${MAX_FD}`, value);
  }
  return value;
}

/**
 * Offsets above 2^53 - 1 (8 PiB) are refused rather than rounded: a double cannot hold
 * them exactly, and a rounded offset would move the wrong bytes.
 */
export function validateOffset(value: unknown, name: string): number {
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw outOfRange(name, `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, value);
    }
    return Number(value);
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number or bigint', value);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw outOfRange(name, `an integer >= 0 && <= ${Number.MAX_SAFE_INTEGER}`, value);
  }
  return value;
}

/** `null` (or undefined) means "the descriptor's own position", which the call advances. */
export function validateOptionalOffset(value: unknown, name: string): number {
  return value === null || value === undefined ? -1 : validateOffset(value, name);
}

export const validateLength = validateOffset;

export function validateInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} && <= ${max}`, value);
  }
  return value;
}

export function validateBytes(value: unknown, name: string): NodeJS.ArrayBufferView {
  if (!ArrayBuffer.isView(value)) {
    throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value);
  }
  return value as NodeJS.ArrayBufferView;
}

export function validateBytesList(value: unknown, name: string): NodeJS.ArrayBufferView[] {
  const list = ArrayBuffer.isView(value) ? [value] : value;
  if (!Array.isArray(list)) {
    throw invalidArgType(name, 'a Buffer, TypedArray, DataView or an array of them', value);
  }
  return list.map((item, index) => validateBytes(item, `${name}[${index}]`));
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function validateOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(name, value, `must be one of: ${allowed.map((item) => `'${item}'`).join(', ')}`);
  }
  return value as T;
}

export function validateObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value);
  return value as Record<string, unknown>;
}
