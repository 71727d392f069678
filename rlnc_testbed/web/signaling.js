// The browser's signaling client: joins the server's websocket with a slot credential, sends
// messages, queues what arrives (docs/protocol.md §1).
//
// As SignalingClient in signaling/client.py: `signal` messages go to `onSignal(from, payload)`,
// awaited one after the other (so signals stay in order); everything else is queued for
// `recv()`. `close` from the server, or the end of the websocket, ends the session: `recv()`
// then raises SignalingError. Integers beyond 2^53 - 1 (a seed) are parsed exactly, as BigInt.

import {
  describe,
  isNetworkFailure,
  Queue,
  SignalingError,
  TimeoutError,
  withTimeout,
} from './util.js';

const END = Symbol('end');

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

export class Signaling {
  /**
   * Connect to `url`, join as `role` in `slot` with `token` (that slot's credential) and wait,
   * at most `timeoutMs`, for the welcome. Throws SignalingError with the server's reason when
   * refused, TimeoutError when no answer comes in time.
   */
  static async connect(url, { token, role, slot, timeoutMs, log }) {
    const ws = new WebSocket(url);
    const client = new Signaling(ws, { role, log });
    const join = { type: 'join', token, role };
    if (slot !== undefined && slot !== null) join.slot = String(slot);
    await withTimeout(client._opened, timeoutMs, `connecting to ${url}`);
    ws.send(JSON.stringify(join));
    const first = await withTimeout(client._welcome, timeoutMs, `welcome from ${url}`);
    client.id = String(first.id);
    return client;
  }

  constructor(ws, { role, log }) {
    this.ws = ws;
    this.role = role;
    this.id = '';
    this.log = log || console;
    /** `async (from, payload) => ...` for relayed WebRTC signals. */
    this.onSignal = null;
    this.closeReason = null;
    this.closed = false;
    this._queue = new Queue();
    this._signals = Promise.resolve();
    let opened, failed, welcomed, refused;
    this._opened = new Promise((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    this._welcome = new Promise((resolve, reject) => {
      welcomed = resolve;
      refused = reject;
    });
    this._welcomed = false;
    ws.addEventListener('open', () => opened());
    ws.addEventListener('error', () => {
      failed(new SignalingError(`websocket ${ws.url} failed`));
    });
    ws.addEventListener('close', (event) => {
      const why = this.closeReason || event.reason || `websocket closed (code ${event.code})`;
      this.closeReason = why;
      this.closed = true;
      failed(new SignalingError(`websocket ${ws.url} closed: ${why}`));
      if (!this._welcomed) refused(new SignalingError(`join refused: ${why}`));
      this._queue.put(END);
    });
    ws.addEventListener('message', (event) => this._onMessage(event, welcomed, refused));
  }

  _onMessage(event, welcomed, refused) {
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
    if (!this._welcomed) {
      if (msg.type === 'welcome') {
        this._welcomed = true;
        welcomed(msg);
      } else if (msg.type === 'error') {
        refused(new SignalingError(`join refused: ${msg.reason}`));
      } else {
        refused(new SignalingError(`expected welcome, got ${msg.type}`));
      }
      return;
    }
    if (msg.type === 'signal' && this.onSignal) {
      const from = String(msg.from);
      this._signals = this._signals.then(() =>
        this.onSignal(from, msg.payload).catch((exc) => {
          if (isNetworkFailure(exc)) this.log.warn(`signaling: signal from ${from} failed: ${exc}`);
          else this.log.error(`signaling: handling a signal from ${from} raised ${describe(exc)}`);
        }),
      );
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

  send(msg) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) {
      throw new SignalingError(`signaling is closed: cannot send ${msg.type}`);
    }
    this.ws.send(JSON.stringify(msg));
  }

  /** Relay a WebRTC signal to `to`. */
  async signal(to, payload) {
    this.send({ type: 'signal', to, payload });
  }

  close() {
    this.closed = true;
    try {
      this.ws.close(1000, 'bye');
    } catch (exc) {
      this.log.warn(`signaling: close failed: ${exc}`);
    }
  }
}
