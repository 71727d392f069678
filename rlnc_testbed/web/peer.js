// The browser storage peer's entry point (peer.html): read the URL fragment, join signaling
// with the slot's credential, and serve as a storage peer or a newcomer until the server
// closes the trial, this peer fails, or signaling goes quiet.
//
// Fragment (never the query string: a fragment is not sent to servers nor logged):
//   #server=ws://127.0.0.1:PORT/ws&role=peer|newcomer&slot=ID&token=CREDENTIAL&unit=SECONDS
//   [&faults=PLAN]
// or `#standby`: a page opened ahead of its node (a newcomer's, before its round). It loads
// every module and asks for the media permission (unlockLoopback), then waits: no websocket,
// no join, nothing on the wire. `window.rlncStandby` resolves to 'ready' once it is; the
// launcher then calls `window.rlncStart(fragment)` (the fragment above, as an argument, so the
// credential never enters the address bar) when the node is to join, and from there the page
// is exactly the one opened with that fragment. Either way a page runs one node, once.
// `unit` is the timeout unit in seconds (rlnc_testbed.timeouts.unit(), default 1). `faults`,
// when the trial has node faults, is the scenario's fault plan as JSON (FaultPlan.to_list());
// the node then runs the fault-injecting roles of faulty.js, which replay the plan with the
// specified draws (faults.js) and carry out what it gives them, as an aiortc node would.
//
// What the Python side reads from the console: console.error is a bug (the launcher records it
// and the trial's verdict becomes `error`); uncaught errors and unhandled rejections are
// logged that way and reported to the server as `error {reason}`; one `[rlnc] done <reason>`
// info line when the node stopped, and one `[rlnc] rejoined signaling as ID (n)` info line
// each time it rejoined its slot after the server restarted or dropped it (signaling.js).

import { parsePlan } from './faults.js';
import { DONE_PREFIX, ROLES, runNode, unlockLoopback } from './run-node.js';
import { describe } from './util.js';

export { DONE_PREFIX };

/** The fragment of a page opened ahead, in standby (see above). */
export const STANDBY = '#standby';

let node = null;
let started = false;
let loopback = null;

function status(text) {
  const element = document.getElementById('status');
  if (element) element.textContent = text;
}

/** Report a bug that escaped every handler: console.error, and the server if we can. */
function reportUncaught(what, exc) {
  const reason = `${what}: ${describe(exc)}`.slice(0, 500);
  console.error(`uncaught in the browser peer: ${reason}${exc && exc.stack ? '\n' + exc.stack : ''}`);
  if (node !== null) {
    try {
      node.report('error', { reason });
    } catch (sendExc) {
      console.warn(`could not report it to the server: ${describe(sendExc)}`);
    }
  }
}

window.addEventListener('error', (event) => reportUncaught('uncaught error', event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => reportUncaught('unhandled rejection', event.reason));

/** The page's arguments, from the fragment only. */
export function readFragment(hash) {
  const args = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const server = args.get('server');
  const role = args.get('role');
  const slot = args.get('slot');
  const token = args.get('token');
  const unit = Number(args.get('unit') ?? '1');
  if (!server || !/^wss?:\/\//.test(server)) throw new Error(`fragment: server must be a ws:// URL, got ${server}`);
  if (!(role in ROLES)) throw new Error(`fragment: role must be peer or newcomer, got ${role}`);
  if (!slot || !/^[1-9][0-9]*$/.test(slot)) throw new Error(`fragment: slot must be a decimal id, got ${slot}`);
  if (!token) throw new Error('fragment: no token');
  if (!Number.isFinite(unit) || unit <= 0) throw new Error(`fragment: unit must be > 0 s, got ${unit}`);
  const out = { server, role, slot, token, unitMs: unit * 1000 };
  const faults = args.get('faults');
  if (faults !== null) {
    let list;
    try {
      list = JSON.parse(faults);
    } catch (exc) {
      const shown = faults.slice(0, 80);
      throw new Error(`fragment: faults must be a JSON list, got ${shown}: ${describe(exc)}`);
    }
    out.plan = parsePlan(list); // (absent without faults)
  }
  return out;
}

async function main(hash) {
  const args = readFragment(hash);
  // The credential is not needed in the address bar any more.
  if (location.hash) history.replaceState(null, '', location.pathname);
  loopback ??= unlockLoopback();
  await loopback;
  const stopped = await runNode(args, {
    status,
    onNode: (created) => {
      node = created;
      window.rlncNode = created;
    },
  });
  console.info(`${DONE_PREFIX} ${stopped.stopReason}`);
}

/**
 * Run this page's node with `hash` (a fragment, as readFragment reads it), in the background:
 * what went wrong is reported as from a page opened with that fragment. Once per page.
 */
export function start(hash) {
  if (started) throw new Error('this page already runs a node');
  started = true;
  main(hash).catch((exc) => {
    reportUncaught('the browser peer', exc);
    console.info(`${DONE_PREFIX} error: ${describe(exc)}`);
  });
  return true;
}

if (location.hash === STANDBY) {
  history.replaceState(null, '', location.pathname);
  loopback = unlockLoopback();
  window.rlncStart = start;
  window.rlncStandby = loopback.then(() => {
    if (!started) status('standby: loaded, not joined');
    return 'ready';
  });
} else {
  start(location.hash);
}
