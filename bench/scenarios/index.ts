import type { Scenario } from '../lib/types.js';
import { captureScenario } from './capture.js';
import { classic } from './classic.js';
import { cp } from './cp.js';
import { fanoutScenario } from './fanout.js';
import { http } from './http.js';
import { ipc } from './ipc.js';
import { listing } from './listing.js';
import { loop } from './loop.js';
import { proxy } from './proxy.js';
import { small } from './small.js';
import { startup } from './startup.js';
import { web } from './web.js';
import { workers } from './workers.js';
import { zerocopySend } from './zerocopy-send.js';

/** Every scenario, in the order they run. To add one: a file in this directory, and a line here. */
export const SCENARIOS: Scenario[] = [
  classic,
  small,
  http,
  web,
  loop,
  proxy,
  cp,
  ipc,
  startup,
  workers,
  listing,
  fanoutScenario,
  captureScenario,
  zerocopySend,
];
