// The package's root directory, where node-gyp-build looks for build/ and prebuilds/.
// A .cts file compiles to CommonJS in both builds, so __dirname works in each without
// import.meta (which CommonJS cannot parse). Both builds put this file three levels
// below the root: dist/src/binding/ (ES modules) and dist/cjs/binding/ (CommonJS).
import { join } from 'node:path';

export const packageRoot: string = join(__dirname, '..', '..', '..');
