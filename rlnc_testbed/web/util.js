// What the browser peer's modules share: error classes, bounded waits, a queue and a lock.
//
// The error classes mirror the Python side's split (roles/node.py): a TimeoutError, a
// TransportError (ChannelClosed is one) or a WireError is the network's failure, logged and
// left to the phase deadlines; anything else is a bug, reported at once.

/** A bounded wait ran out. */
export class TimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** A channel could not be opened or failed. */
export class TransportError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TransportError';
  }
}

/** The channel was closed (by either side) while sending or receiving. */
export class ChannelClosed extends TransportError {
  constructor(message) {
    super(message);
    this.name = 'ChannelClosed';
  }
}

/** The signaling server refused us or went away. */
export class SignalingError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SignalingError';
  }
}

/** Raised inside the node to end its run (close or fail command). */
export class NodeStopped extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'NodeStopped';
  }
}

/**
 * `promise`, or a TimeoutError naming `what` after `ms` milliseconds. `onTimeout` (optional)
 * runs when the time is up (e.g. to drop a waiter).
 */
export function withTimeout(promise, ms, what, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      if (onTimeout) onTimeout();
      reject(new TimeoutError(`${what}: nothing within ${(ms / 1000).toFixed(1)} s`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An unbounded FIFO whose `get(ms, what)` waits (bounded) for the next item. */
export class Queue {
  constructor() {
    this._items = [];
    this._waiters = [];
  }

  get size() {
    return this._items.length;
  }

  put(item) {
    const waiter = this._waiters.shift();
    if (waiter) waiter(item);
    else this._items.push(item);
  }

  /** Put `item` back at the front (a sentinel that every later reader must see too). */
  unget(item) {
    this._items.unshift(item);
  }

  get(ms, what) {
    if (this._items.length) return Promise.resolve(this._items.shift());
    let resolver;
    const next = new Promise((resolve) => {
      resolver = resolve;
      this._waiters.push(resolve);
    });
    if (ms === undefined || ms === null) return next;
    return withTimeout(next, ms, what, () => {
      const i = this._waiters.indexOf(resolver);
      if (i >= 0) this._waiters.splice(i, 1);
    });
  }
}

/** A mutual-exclusion lock: `await lock.run(async () => ...)`. */
export class Lock {
  constructor() {
    this._tail = Promise.resolve();
  }

  run(fn) {
    const result = this._tail.then(fn);
    this._tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Ids as the protocol sorts them: numerically ("10" after "9"). */
export function byNumber(a, b) {
  return Number(a) - Number(b);
}

/** `Type: message` of any thrown value, at most `limit` characters. */
export function describe(exc, limit = 500) {
  let text;
  if (exc instanceof Error) text = `${exc.name}: ${exc.message}`;
  else text = `${typeof exc}: ${String(exc)}`;
  return text.length > limit ? text.slice(0, limit) : text;
}

/** Whether `exc` is the network's failure (logged) rather than a bug (reported). */
export function isNetworkFailure(exc) {
  return (
    exc instanceof TimeoutError ||
    exc instanceof TransportError ||
    exc instanceof SignalingError ||
    (exc instanceof Error && exc.name === 'WireError')
  );
}
