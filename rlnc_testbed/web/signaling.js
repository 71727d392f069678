// The browser's signaling client: joins the server's websocket with a slot credential, sends
// messages, queues what arrives (docs/protocol.md §1).
//
// As SignalingClient in signaling/client.py: `signal` messages go to `onSignal(from, payload)`,
// one sender's awaited one after the other (so a connection's signals stay in order: an answer
// leaves before that sender's later signals are handled), different senders' concurrently (a
// newcomer answers all its parents' offers at once); everything else is queued for
// `recv()`. `close` from the server, or the end of the websocket, ends the session: `recv()`
// then raises SignalingError. Integers beyond 2^53 - 1 (a seed) are parsed exactly, as BigInt.
//
// When the server closes the connection with code 1012 ("service restart": a restart, or a
// connection it drops on purpose), a client that joined a slot rejoins it by itself with the
// same credential, for at most RECONNECT_UNITS (pauses from 50 ms, doubling up to 200 ms), and
// must be welcomed with the same id. Meanwhile `send()` holds messages and sends them, in
// order, once rejoined; `recv()` sees nothing happen, and the node (its stored packets, its
// data channels) goes on as before. Any other end of the connection (a `close` message, a
// refusal, an abrupt loss, our own `close()`) ends the session as before; so does a rejoin
// that fails, with a `closeReason` saying why.

import {
  describe,
  isNetworkFailure,
  Queue,
  SignalingError,
  sleep,
  TimeoutError,
} from './util.js';

const END = Symbol('end');
/** How long a client keeps trying to rejoin after a 1012 close (timeout units). */
export const RECONNECT_UNITS = 20;
/** The websocket close code of a server that will be back (RFC 6455 "service restart"). */
export const RESTART_CODE = 1012;
/** First pause before a rejoin attempt, and the longest (ms), as signaling/client.py. */
export const FIRST_PAUSE_MS = 50;
export const MAX_PAUSE_MS = 200;
/** At most this many messages are held while rejoining (a node is quiet between rounds). */
export const MAX_HELD = 1000;
/** WebSocket.OPEN (a constant, so a test's WebSocket class need not define it). */
const OPEN = 1;

/** JSON.parse keeping integers outside the safe range exact (as BigInt). */
export function parseJson(text) {
  return JSON.parse(text, function revive(key, value, context) {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value)) {
      const source = context && context.source;
      if (typeof source !== 'string' || !/^-?\d+$/.test(source)) {
        throw new SignalingError(`cannot read integer ${key}=${value} exactly`);
      }
      return BigInt(source);
    }
    return value;
  });
}

/** The pause before rejoin attempt `attempt` (0, 1, ...): 50, 100, 200, 200, ... ms. */
export function rejoinPause(attempt) {
  return Math.min(FIRST_PAUSE_MS * 2 ** Math.min(attempt, 16), MAX_PAUSE_MS);
}

export class Signaling {
  /**
   * Connect to `url`, join as `role` in `slot` with `token` (that slot's credential) and wait,
   * at most `timeoutMs`, for the welcome. Throws SignalingError with the server's reason when
   * refused, TimeoutError when no answer comes in time. `unitMs` is the timeout unit (the
   * rejoin window is RECONNECT_UNITS of them); `WebSocket` the class to connect with (tests).
   */
  static async connect(url, { token, role, slot, timeoutMs, unitMs, log, WebSocket: Socket }) {
    const join = { type: 'join', token, role };
    const rejoin = slot !== undefined && slot !== null;
    if (rejoin) join.slot = String(slot);
    const client = new Signaling(url, JSON.stringify(join), {
      role,
      log,
      unitMs: unitMs ?? 1000,
      rejoin,
      Socket: Socket ?? globalThis.WebSocket,
    });
    await client._join(timeoutMs, (welcome) => {
      client.id = String(welcome.id);
      return true;
    });
    return client;
  }

  constructor(url, joinText, { role, log, unitMs, rejoin, Socket }) {
    this.url = url;
    this.role = role;
    this.id = '';
    this.log = log || console;
    this.unitMs = unitMs;
    /** `async (from, payload) => ...` for relayed WebRTC signals. */
    this.onSignal = null;
    /** Why the session ended (or the server's `close` reason, once it said it). */
    this.closeReason = null;
    /** True once the session ended (by either side); false while rejoining. */
    this.closed = false;
    /** True while rejoining after a 1012 close. */
    this.rejoining = false;
    /** How many times this client rejoined after the server restarted or dropped it. */
    this.reconnects = 0;
    this.ws = null;
    this._joinText = joinText;
    this._rejoin = rejoin;
    this._Socket = Socket;
    this._held = [];
    this._ended = false;
    this._queue = new Queue();
    /** Per sender, the end of its chain of signal handlers (removed once it settles). */
    this._signals = new Map();
  }

  /**
   * Open a websocket, send the join and wait (at most `ms`) for the answer. On the welcome,
   * `accept(welcome)` decides at once (before any later frame) whether the socket becomes
   * this client's: true adopts it and resolves with the welcome; false closes it and rejects.
   * Every failure is a SignalingError or TimeoutError, and the socket is closed.
   */
  _join(ms, accept) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._Socket(this.url);
      } catch (exc) {
        reject(new SignalingError(`cannot connect to ${this.url}: ${describe(exc)}`));
        return;
      }
      let settled = false;
      const listeners = {
        open: () => {
          try {
            ws.send(this._joinText);
          } catch (exc) {
            finish(new SignalingError(`cannot send the join to ${this.url}: ${describe(exc)}`));
          }
        },
        error: () => finish(new SignalingError(`websocket ${this.url} failed`)),
        close: (event) =>
          finish(
            new SignalingError(`join refused: ${event.reason || `websocket closed (code ${event.code})`}`),
          ),
        message: (event) => {
          let msg;
          try {
            msg = typeof event.data === 'string' ? parseJson(event.data) : null;
          } catch (exc) {
            finish(new SignalingError(`bad answer to join: ${describe(exc)}`));
            return;
          }
          if (msg === null || typeof msg !== 'object') {
            finish(new SignalingError('bad answer to join: not a JSON object'));
          } else if (msg.type === 'error') {
            finish(new SignalingError(`join refused: ${msg.reason}`));
          } else if (msg.type !== 'welcome') {
            finish(new SignalingError(`expected welcome after join, got ${msg.type}`));
          } else if (!accept(msg)) {
            finish(new SignalingError(`welcomed as ${msg.id}: not this client's slot`));
          } else {
            finish(null, msg);
          }
        },
      };
      const timer = setTimeout(
        () => finish(new TimeoutError(`welcome from ${this.url}: nothing within ${(ms / 1000).toFixed(1)} s`)),
        ms,
      );
      const finish = (error, welcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const [name, listener] of Object.entries(listeners)) ws.removeEventListener(name, listener);
        if (error) {
          try {
            ws.close();
          } catch {
            // closing a socket that never opened: nothing to do
          }
          reject(error);
          return;
        }
        this._adopt(ws);
        resolve(welcome);
      };
      for (const [name, listener] of Object.entries(listeners)) ws.addEventListener(name, listener);
    });
  }

  /** Make `ws` (welcomed) this client's connection. */
  _adopt(ws) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      if (ws === this.ws) this._onMessage(event);
    });
    ws.addEventListener('close', (event) => {
      if (ws === this.ws) this._onClose(event);
    });
  }

  _onClose(event) {
    if (
      event.code === RESTART_CODE &&
      this._rejoin &&
      !this.closed &&
      this.closeReason === null &&
      !this.rejoining
    ) {
      this._reconnect().catch((exc) => {
        this.log.error(`signaling: rejoining raised ${describe(exc)}`);
        this._end(`rejoining failed: ${describe(exc)}`);
      });
      return;
    }
    this._end(this.closeReason || event.reason || `websocket closed (code ${event.code})`);
  }

  /** Rejoin our slot (bounded by RECONNECT_UNITS); the session ends if that fails. */
  async _reconnect() {
    this.rejoining = true;
    const windowMs = RECONNECT_UNITS * this.unitMs;
    const giveUp = Date.now() + windowMs;
    this.log.info(`signaling: ${this.role} ${this.id}: server restarting; rejoining`);
    let mismatch = null;
    const accept = (welcome) => {
      if (this.closed) return false; // closed by us meanwhile
      if (String(welcome.id) === this.id) return true;
      mismatch = String(welcome.id);
      return false;
    };
    for (let attempt = 0; ; attempt += 1) {
      let left = giveUp - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(rejoinPause(attempt), left));
      if (this.closed) return;
      left = giveUp - Date.now();
      if (left <= 0) break;
      try {
        await this._join(Math.max(left, 50), accept);
      } catch (exc) {
        if (this.closed) return;
        if (mismatch !== null) {
          this._end(`rejoined as '${mismatch}', not '${this.id}'`);
          return;
        }
        if (!isNetworkFailure(exc)) throw exc;
        this.log.debug(`signaling: ${this.id}: rejoin attempt ${attempt + 1} failed: ${exc.message}`);
        continue;
      }
      this.rejoining = false;
      this.reconnects += 1;
      this.log.info(`[rlnc] rejoined signaling as ${this.id} (${this.reconnects})`);
      const held = this._held;
      this._held = [];
      for (const text of held) this.ws.send(text);
      return;
    }
    this._end(`server restarted and did not take us back within ${(windowMs / 1000).toFixed(1)} s`);
  }

  /** The session is over (once): wake `recv()` with the end, drop held messages. */
  _end(why) {
    if (this._ended) return;
    this._ended = true;
    if (this.closeReason === null) this.closeReason = why;
    this.closed = true;
    this.rejoining = false;
    if (this._held.length) {
      this.log.warn(`signaling: ${this.id}: ${this._held.length} message(s) never sent: ${why}`);
      this._held = [];
    }
    this._queue.put(END);
  }

  _onMessage(event) {
    if (typeof event.data !== 'string') {
      this.log.warn(`signaling: ignoring a binary frame`);
      return;
    }
    let msg;
    try {
      msg = parseJson(event.data);
    } catch (exc) {
      this.log.warn(`signaling: dropping a malformed message: ${exc}`);
      return;
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
      this.log.warn(`signaling: dropping a message without a type`);
      return;
    }
    if (msg.type === 'signal' && this.onSignal) {
      const from = String(msg.from);
      const before = this._signals.get(from) ?? Promise.resolve();
      const after = before
        .then(() => this.onSignal(from, msg.payload))
        .catch((exc) => {
          if (isNetworkFailure(exc)) this.log.warn(`signaling: signal from ${from} failed: ${exc}`);
          else this.log.error(`signaling: handling a signal from ${from} raised ${describe(exc)}`);
        })
        .finally(() => {
          if (this._signals.get(from) === after) this._signals.delete(from);
        });
      this._signals.set(from, after);
      return;
    }
    if (msg.type === 'close') this.closeReason = String(msg.reason || '');
    this._queue.put(msg);
  }

  /** Next non-signal message, waiting at most `ms`; SignalingError once the session ended. */
  async recv(ms) {
    const msg = await this._queue.get(ms, 'signaling');
    if (msg === END) {
      this._queue.unget(END);
      throw new SignalingError(`signaling ended: ${this.closeReason || 'closed'}`);
    }
    return msg;
  }

  /** The next message of `type` (others before it are dropped, with a warning). */
  async expect(type, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`no ${type} message in time`);
      const msg = await this.recv(left);
      if (msg.type === type) return msg;
      if (msg.type === 'close') throw new SignalingError(`closed before ${type}: ${msg.reason}`);
      this.log.warn(`signaling: expected ${type}, dropping ${msg.type}`);
    }
  }

  /** Send `msg` now, or, while rejoining, once rejoined (in order). */
  send(msg) {
    if (this.closed) throw new SignalingError(`signaling is closed: cannot send ${msg.type}`);
    const text = JSON.stringify(msg);
    if (this.rejoining) {
      if (this._held.length >= MAX_HELD) {
        throw new SignalingError(`rejoining: ${MAX_HELD} messages held already; cannot send ${msg.type}`);
      }
      this._held.push(text);
      return;
    }
    if (this.ws === null || this.ws.readyState !== OPEN) {
      throw new SignalingError(`signaling is closed: cannot send ${msg.type}`);
    }
    this.ws.send(text);
  }

  /** Relay a WebRTC signal to `to`. */
  async signal(to, payload) {
    this.send({ type: 'signal', to, payload });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.ws !== null) this.ws.close(1000, 'bye');
    } catch (exc) {
      this.log.warn(`signaling: close failed: ${exc}`);
    }
    this._end('closed');
  }
}
