/**
 * A signaling server double for tests of rlnc_testbed/web/signaling.js under Node (which has
 * no WebSocket class of its own in v20): `server.Socket` is a WebSocket look-alike (events
 * `open`, `message`, `close`, `error`, dispatched as later tasks as a browser does) whose
 * frames reach this in-memory server. The server welcomes a join with the slot it names (or
 * `welcomeAs`), records every frame, restarts (every socket closed with 1012, nothing listens
 * for a while: connections fail as a refused TCP connection does, error then close 1006) and
 * drops one socket with any close code.
 */

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

function later(fn) {
  setTimeout(fn, 0);
}

function event(type, fields) {
  return Object.assign(new Event(type), fields);
}

export class FakeServer {
  constructor() {
    this.up = true;
    /** Every socket ever connected, in order. */
    this.sockets = [];
    /** Parsed frames received, in order: {socket, msg}. */
    this.frames = [];
    /** Connection attempts (including refused ones). */
    this.attempts = 0;
    /** Id to welcome joins as (default: the join's slot). */
    this.welcomeAs = null;
    /** Answer joins with this error reason instead of a welcome. */
    this.refuse = null;
    const server = this;
    this.Socket = class FakeSocket extends EventTarget {
      constructor(url) {
        super();
        this.url = url;
        this.readyState = CONNECTING;
        this.closeCode = null;
        server.attempts += 1;
        server.sockets.push(this);
        const up = server.up;
        later(() => {
          if (this.readyState !== CONNECTING) return;
          if (!up) {
            this.readyState = CLOSED;
            this.dispatchEvent(event('error', {}));
            this.dispatchEvent(event('close', { code: 1006, reason: '' }));
            return;
          }
          this.readyState = OPEN;
          this.dispatchEvent(event('open', {}));
        });
      }

      send(text) {
        if (this.readyState !== OPEN) throw new Error('InvalidStateError: not open');
        const msg = JSON.parse(text);
        server.frames.push({ socket: this, msg });
        if (msg.type === 'join') {
          if (server.refuse !== null) {
            server.push(this, { type: 'error', reason: server.refuse });
            server.closeSocket(this, 1008, server.refuse);
          } else {
            server.push(this, { type: 'welcome', id: server.welcomeAs ?? msg.slot ?? '1', params: null });
          }
        }
      }

      close(code = 1000, reason = '') {
        server.closeSocket(this, code, reason);
      }
    };
  }

  /** Sockets still open. */
  get open() {
    return this.sockets.filter((socket) => socket.readyState === OPEN);
  }

  /** Frames of `type` (join, stored, ...) the server received. */
  received(type) {
    return this.frames.filter((frame) => frame.msg.type === type).map((frame) => frame.msg);
  }

  /** Send `msg` (JSON) to `socket`, as a later task. */
  push(socket, msg) {
    const text = JSON.stringify(msg);
    later(() => {
      if (socket.readyState === OPEN) socket.dispatchEvent(event('message', { data: text }));
    });
  }

  /** Send `msg` to the newest open socket. */
  say(msg) {
    const open = this.open;
    if (!open.length) throw new Error('no open socket');
    this.push(open[open.length - 1], msg);
  }

  closeSocket(socket, code, reason = '') {
    if (socket.readyState === CLOSED) return;
    socket.readyState = CLOSED;
    socket.closeCode = code;
    later(() => socket.dispatchEvent(event('close', { code, reason })));
  }

  /** Close every open socket with 1012; refuse connections for `downtimeMs` (Infinity: for
   * good). */
  restart(downtimeMs) {
    for (const socket of this.open) this.closeSocket(socket, 1012, 'server restarting');
    this.up = false;
    if (Number.isFinite(downtimeMs)) {
      setTimeout(() => {
        this.up = true;
      }, downtimeMs);
    }
  }
}
