import { binding } from '../binding/load.js';
import type { ConstantName } from '../binding/native.js';
import { check, invalidArgType, invalidArgValue } from '../errors.js';
import { validateBoolean, validateFd, validateObject, validateOneOf } from './validate.js';

export interface MemfdOptions {
  /** MFD_ALLOW_SEALING: allow addSeals() on it later. Default true. */
  allowSealing?: boolean;
  /** MFD_HUGETLB: back it with huge pages (needs reserved huge pages). Default false. */
  hugeTlb?: boolean;
}

/**
 * memfd_create(2): an anonymous file that lives in memory, with O_CLOEXEC. Size it with
 * fs.ftruncateSync(), fill it with fs.writeSync() or mmap(fd, { mode: 'shared' }), hand
 * it to another process (as a descriptor), seal it so the receiver can trust it.
 */
export function memfdCreate(name: string, options?: MemfdOptions): number {
  const native = binding();
  const { constants } = native;
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
  // The kernel takes at most 249 bytes ("memfd:" + name must fit NAME_MAX) and no NUL.
  if (Buffer.byteLength(name) > 249 || name.includes('\0')) {
    throw invalidArgValue('name', name, 'must be at most 249 bytes without NUL characters');
  }
  const opts = validateObject(options, 'options');
  const allowSealing =
    opts.allowSealing === undefined ? true : validateBoolean(opts.allowSealing, 'options.allowSealing');
  const hugeTlb = opts.hugeTlb === undefined ? false : validateBoolean(opts.hugeTlb, 'options.hugeTlb');
  const flags =
    constants.MFD_CLOEXEC | (allowSealing ? constants.MFD_ALLOW_SEALING : 0) | (hugeTlb ? constants.MFD_HUGETLB : 0);
  return check(native.memfdCreate(name, flags), 'memfd_create');
}

export type Seal = 'seal' | 'shrink' | 'grow' | 'write' | 'future-write';
const SEALS: Record<Seal, ConstantName> = {
  seal: 'F_SEAL_SEAL',
  shrink: 'F_SEAL_SHRINK',
  grow: 'F_SEAL_GROW',
  write: 'F_SEAL_WRITE',
  'future-write': 'F_SEAL_FUTURE_WRITE',
};
const SEAL_NAMES = Object.keys(SEALS) as Seal[];

/**
 * F_ADD_SEALS: forbids, for good, the listed changes to a memfd: 'shrink' (no SIGBUS for
 * anyone mapping it), 'grow', 'write' (fails with EBUSY while a shared writable mapping
 * exists), 'future-write' (existing writable mappings keep working), 'seal' (no more seals).
 */
export function addSeals(fd: number, seals: Seal[]): void {
  const native = binding();
  const descriptor = validateFd(fd, 'fd');
  if (!Array.isArray(seals)) throw invalidArgType('seals', 'an array of seal names', seals);
  let bits = 0;
  for (const [index, seal] of seals.entries()) {
    bits |= native.constants[SEALS[validateOneOf(seal, `seals[${index}]`, SEAL_NAMES)]];
  }
  check(native.fcntl(descriptor, native.constants.F_ADD_SEALS, bits), 'fcntl');
}

/** F_GET_SEALS: the seals set on a memfd. EINVAL for a descriptor that cannot be sealed. */
export function getSeals(fd: number): Seal[] {
  const native = binding();
  const bits = check(native.fcntl(validateFd(fd, 'fd'), native.constants.F_GET_SEALS, 0), 'fcntl');
  return SEAL_NAMES.filter((seal) => (bits & native.constants[SEALS[seal]]) !== 0);
}
