import { createRequire } from 'node:module';
import { join } from 'node:path';

import { addonLoadFailed, unsupported } from '../errors.js';
import type { NativeBinding } from './native.js';
import { packageRoot } from './package-root.cjs';

type LoadState = { binding: NativeBinding } | { error: Error };
let state: LoadState | undefined;

function load(): LoadState {
  if (process.platform !== 'linux') {
    return {
      error: unsupported('The zerocopy native addon', `it wraps Linux system calls and this is ${process.platform}`),
    };
  }
  // node-gyp-build is CommonJS: both builds of this file load the one copy, whose require()
  // caches the addon, so a process that imports and requires zerocopy shares one binding.
  const require = createRequire(join(packageRoot, 'package.json'));
  try {
    const nodeGypBuild = require('node-gyp-build') as (root: string) => unknown;
    return { binding: nodeGypBuild(packageRoot) as NativeBinding };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    const error = addonLoadFailed(
      `The zerocopy native addon could not be loaded (${reason}).\n` +
        'Possible solutions:\n' +
        '  - build it: npm rebuild zerocopy (needs g++, make and python3)\n' +
        '  - if you copied node_modules from another machine, reinstall on this one\n' +
        'Until then zerocopy primitives throw this error and transfers copy through userspace.',
    );
    error.cause = cause;
    return { error };
  }
}

/** The addon, or a thrown ERR_ZEROCOPY_UNSUPPORTED / ERR_ZEROCOPY_ADDON_LOAD that says what to do. */
export function binding(): NativeBinding {
  state ??= load();
  if ('error' in state) throw state.error;
  return state.binding;
}

/** Whether the addon loaded, without throwing: for fallbacks and `zerocopy doctor`. */
export function addonStatus(): { available: true } | { available: false; error: Error } {
  state ??= load();
  return 'error' in state ? { available: false, error: state.error } : { available: true };
}
