// A browser taking part in a serve session (`rlnc-testbed serve`, docs/protocol.md §1 "Serve
// sessions"), as `rlnc-testbed node --slot ID --trials all` or `node --role newcomer --pool`
// does (experiment/standalone.py serve_trials): a browser on this or another host opens
// session.html from the signaling server and gives it a slot (or `pool`) and the text of that
// slot's token file, which serve wrote. It then polls /health, and for every trial it has not
// served joins its slot with that trial's credential (derived here from the session
// credential: hmac.js), runs the node (run-node.js) until the trial's `close`, and polls again,
// until the session is done. A pool page proves on every poll that it holds the pool's token
// (so serve counts it as waiting) and takes the newcomer slot the session announces.
//
// Arguments: the form on the page, or the URL fragment
//   #slot=ID|pool&token=SESSION_CREDENTIAL[&unit=SECONDS]
// (removed from the address bar once read). The server is the page's own origin.
//
// Console lines the launcher reads: one `[rlnc] trial T: SLOT over (REASON)` info line per
// trial served, then `[rlnc] done session over: N trials` (or `[rlnc] done error: ...`, with a
// console.error) once it stops; console.error is a bug or a refusal the user must see.

import { poolWaiterProof, trialCredential } from './hmac.js';
import { DONE_PREFIX, runNode, unlockLoopback } from './run-node.js';
import { SignalingError, describe, sleep } from './util.js';

/** How often /health is asked what the session does, and when a page gives up (units), as
 * POLL_SECONDS and SESSION_WAIT_UNITS of experiment/standalone.py. */
export const POLL_MS = 50;
export const SESSION_WAIT_UNITS = 600;
/** The /health header of a pool newcomer (signaling/server.py POOL_WAITER_HEADER). */
export const POOL_WAITER_HEADER = 'X-Rlnc-Pool-Waiter';

function status(text) {
  const element = document.getElementById('status');
  if (element) element.textContent = text;
}

/** The session page's arguments from a fragment or the form: {slot, pool, token, unitMs}. */
export function readArguments(text) {
  const args = new URLSearchParams(text.startsWith('#') ? text.slice(1) : text);
  const slot = (args.get('slot') ?? '').trim();
  const token = (args.get('token') ?? '').trim();
  const unit = Number(args.get('unit') ?? '1');
  const pool = slot === 'pool';
  if (!pool && !/^[1-9][0-9]*$/.test(slot)) throw new Error(`slot must be a peer slot (a number) or pool, got ${JSON.stringify(slot)}`);
  if (!/^[0-9a-f]{64}$/.test(token)) throw new Error("token must be the token file's text: 64 hex digits");
  if (!Number.isFinite(unit) || unit <= 0) throw new Error(`unit must be > 0 s, got ${unit}`);
  return { slot: pool ? null : slot, pool, token, unitMs: unit * 1000 };
}

/** The session's state and the server's word on our pool proof; Error when unreachable. */
async function ask(healthUrl, headers, unitMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5 * unitMs);
  try {
    const response = await fetch(healthUrl, { headers, cache: 'no-store', signal: controller.signal });
    const body = await response.json();
    return { state: body && typeof body.session === 'object' ? body.session : null, pool: body?.pool };
  } catch (exc) {
    throw new Error(`cannot ask ${healthUrl}: ${describe(exc)}`);
  } finally {
    clearTimeout(timer);
  }
}

function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Take part in the session at this page's origin until it is over; returns the trials
 * served. `origin` is `http://HOST:PORT` (the signaling server's).
 */
export async function serveSession(origin, args, { log = console } = {}) {
  const server = origin.replace(/^http/, 'ws') + '/ws';
  const healthUrl = origin + '/health';
  const headers = {};
  if (args.pool) {
    const waiter = randomHex(8);
    headers[POOL_WAITER_HEADER] = `${waiter}:${await poolWaiterProof(args.token, waiter)}`;
  }
  const role = args.pool ? 'newcomer' : 'peer';
  const done = new Set(); // `${trial}:${slot}` served or tried
  let served = 0;
  let lastSeen = null; // [trial, trials] of the last state seen
  let giveUp = Date.now() + SESSION_WAIT_UNITS * args.unitMs;
  for (;;) {
    let answer;
    try {
      answer = await ask(healthUrl, headers, args.unitMs);
    } catch (exc) {
      if (lastSeen !== null && lastSeen[0] >= lastSeen[1] - 1) return served; // it ended
      throw exc;
    }
    const { state, pool } = answer;
    if (state === null) throw new SignalingError(`${origin} runs no serve session (no session on /health)`);
    if (args.pool && pool === 'refused') {
      throw new SignalingError(`the session at ${origin} refused this pool token: paste the newcomer-pool.token that this session's serve wrote`);
    }
    const trial = Number(state.trial ?? -1);
    const trials = Number(state.trials ?? 0);
    if (lastSeen === null || lastSeen[0] !== trial || lastSeen[1] !== trials) {
      lastSeen = [trial, trials];
      giveUp = Date.now() + SESSION_WAIT_UNITS * args.unitMs;
    }
    if (state.done) return served;
    const target = args.pool ? state.newcomer : args.slot;
    if (typeof target === 'string' && trial >= 0 && !done.has(`${trial}:${target}`)) {
      done.add(`${trial}:${target}`);
      const token = await trialCredential(args.token, trial, target);
      status(`trial ${trial + 1} of ${trials}: joining as ${role} ${target}`);
      let node;
      try {
        node = await runNode({ server, role, slot: target, token, unitMs: args.unitMs }, { log, status });
      } catch (exc) {
        if (!(args.pool && exc instanceof SignalingError)) throw exc;
        log.info(`newcomer slot ${target} of trial ${trial} went to another: ${describe(exc)}`);
        continue;
      }
      served += 1;
      console.info(`[rlnc] trial ${trial}: ${role} ${target} over (${node.stopReason})`);
      status(`trial ${trial + 1} of ${trials}: ${role} ${target} over (${node.stopReason}); waiting`);
      continue;
    }
    if (!args.pool && [...done].some((key) => Number(key.split(':')[0]) >= trials - 1)) return served;
    if (Date.now() > giveUp) {
      throw new Error(`no news from the session at ${origin} within ${(SESSION_WAIT_UNITS * args.unitMs) / 1000} s`);
    }
    await sleep(POLL_MS);
  }
}

async function start(args) {
  status(args.pool ? 'waiting in the newcomer pool' : `waiting for a trial of peer slot ${args.slot}`);
  await unlockLoopback();
  try {
    const served = await serveSession(location.origin, args);
    status(`session over: served ${served} trials`);
    console.info(`${DONE_PREFIX} session over: ${served} trials`);
  } catch (exc) {
    status(`stopped: ${describe(exc)}`);
    console.error(`the session page stopped: ${describe(exc)}`);
    console.info(`${DONE_PREFIX} error: ${describe(exc)}`);
  }
}

function fromForm(form) {
  const data = new FormData(form);
  return `slot=${encodeURIComponent(data.get('slot') ?? '')}&token=${encodeURIComponent(data.get('token') ?? '')}`;
}

if (typeof document !== 'undefined') {
  const form = document.getElementById('join');
  if (location.hash.length > 1) {
    const hash = location.hash;
    history.replaceState(null, '', location.pathname); // the credential leaves the address bar
    if (form) form.hidden = true;
    start(readArguments(hash)).catch((exc) => console.error(`session page: ${describe(exc)}`));
  } else if (form) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      let args;
      try {
        args = readArguments(fromForm(form));
      } catch (exc) {
        status(describe(exc));
        return;
      }
      form.hidden = true;
      start(args);
    });
  }
}
