// Running one browser node, as experiment/standalone.py's run_node: join signaling with a
// slot's credential, wire the WebRTC connector to it, and serve as a storage peer or newcomer
// until the server closes the trial, the node fails, or signaling goes quiet. Shared by the
// page a cluster opens (peer.js: one node, once) and the serve-session page (session.js: one
// node per trial, one after the other).
//
// Nothing here writes the `[rlnc] done` line: the launcher closes a page that writes it, and
// only a page that will run no other node may.

import { Connector } from './channels.js';
import { hasNodeFaults } from './faults.js';
import { FAULTY_ROLES } from './faulty.js';
import { Signaling } from './signaling.js';
import { Newcomer, StoragePeer } from './storage.js';
import { describe } from './util.js';

export const ROLES = { peer: StoragePeer, newcomer: Newcomer };
/** The console line a page writes once it runs no more nodes (the launcher then closes it;
 * browser/chromium.py DONE_PREFIX). */
export const DONE_PREFIX = '[rlnc] done';

/** Console logging, as the Python launcher reads it (console.error is a bug). */
export const consoleLog = {
  debug: (text) => console.debug(text),
  info: (text) => console.info(text),
  warn: (text) => console.warn(text),
  error: (text) => console.error(text),
};

/**
 * Chromium offers a 127.0.0.1 host candidate only once media permission was granted (with
 * --allow-loopback-in-peer-connection and --use-fake-ui-for-media-stream): ask for it once.
 * Without a device the request fails (NotFoundError) after the permission is granted: fine.
 * A page that is not a secure context (plain http from another host) has no mediaDevices and
 * needs no loopback candidate.
 */
export async function unlockLoopback() {
  if (!globalThis.navigator?.mediaDevices) return;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
  } catch (exc) {
    if (!(exc instanceof DOMException) || exc.name !== 'NotFoundError') {
      console.warn(`getUserMedia: ${describe(exc)} (127.0.0.1 candidates may be missing)`);
    }
  }
}

/**
 * Join `args.server` as `args.role` in `args.slot` with credential `args.token` and run the
 * node until it stops; returns the stopped node (`stopReason` says why). `args.unitMs` is
 * the timeout unit; `args.plan` the fault plan (node faults: the fault-injecting roles).
 * `onNode(node)` is called once the node exists (before it runs); `status(text)` is told
 * what it is doing. A refused join raises SignalingError.
 */
export async function runNode(args, { log = consoleLog, status = () => {}, onNode = () => {} } = {}) {
  status(`joining ${args.server} as ${args.role} ${args.slot}`);
  const signaling = await Signaling.connect(args.server, {
    token: args.token,
    role: args.role,
    slot: args.slot,
    timeoutMs: 10 * args.unitMs,
    unitMs: args.unitMs, // a 1012 close (server restart) is rejoined within 20 units
    log,
  });
  const connector = new Connector(signaling.id, {
    sendSignal: (to, payload) => signaling.signal(to, payload),
    unitMs: args.unitMs,
    log,
  });
  signaling.onSignal = (from, payload) => connector.handleSignal(from, payload);
  const plan = args.plan ?? [];
  const roles = hasNodeFaults(plan) ? FAULTY_ROLES : ROLES;
  const node = new roles[args.role]({ signaling, connector, unitMs: args.unitMs, log, plan });
  onNode(node);
  status(`${args.role} ${signaling.id}: running`);
  await node.run();
  status(`${args.role} ${signaling.id}: stopped: ${node.stopReason}`);
  return node;
}
