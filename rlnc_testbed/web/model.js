/**
 * The animated system model page (model.html): takes a run's history events from the
 * dashboard's websocket (`/events`, one JSONL history line per message; see
 * rlnc_testbed/experiment/dashboard.py) and draws them with model-view.js.
 *
 * `?mode=live` (a running `rlnc-testbed run --dashboard`): every event is shown as it arrives.
 * `?mode=replay` (`rlnc-testbed replay RUN.jsonl`): the events are kept and played back with
 * play/pause, a speed and a round slider (each slider step is the end of a round).
 * @module model
 */

import { applyEvent, browsersOf, createState, roundMarks, stateAt } from './model-state.js';
import { renderModel, renderPanels, renderSurvival, renderTimeline } from './model-view.js';

/** Milliseconds each event stays on screen at speed 1 (replay). */
export const DWELL_MS = Object.freeze({
  start: 300,
  failure: 700,
  fault: 300,
  parents: 800,
  transfer: 40,
  store: 500,
  collect: 500,
  verdict: 900,
  trial: 400,
  point: 200,
});

const params = new URLSearchParams(window.location.search);
const mode = params.get('mode') === 'replay' ? 'replay' : 'live';
const $ = (id) => document.getElementById(id);

const model = {
  mode,
  events: [],
  state: createState(),
  position: 0, // events applied (replay)
  playing: false,
  speed: Number(params.get('speed') ?? 1) || 1,
  marks: [],
  connected: false,
  finished: false,
};
window.rlncModel = model; // for the browser tests and the curious

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    renderModel($('model'), model.state);
    renderSurvival($('survival'), model.state);
    renderTimeline($('timeline'), model.state);
    renderPanels(document, model.state);
    renderControls();
  }, 16);
}

function status(text) {
  $('status').textContent = text;
  $('status').setAttribute('data-status', text.split(/[ :]/)[0]);
}

function parse(data, line) {
  try {
    const value = JSON.parse(data);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
    return { event: 'malformed', line, error: 'not a JSON object' };
  } catch (error) {
    return { event: 'malformed', line, error: `not valid JSON (${error.message})` };
  }
}

function receive(data) {
  const event = parse(data, model.events.length + 1);
  model.events.push(event);
  if (mode === 'live') {
    applyEvent(model.state, event);
    model.position = model.events.length;
    render();
  } else {
    if (event.event === 'verdict') model.marks = roundMarks(model.events);
    if (event.event === 'trial' && Array.isArray(event.browsers)) {
      model.state.browsers = browsersOf(model.events);
    }
    if (!model.playing && model.position === 0 && params.get('autoplay') !== '0') play();
    renderControls();
  }
}

function connect() {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${window.location.host}/events`);
  status('connecting');
  socket.addEventListener('open', () => {
    model.connected = true;
    status(mode === 'live' ? 'live: events appear as the run writes them' : 'replay: loading');
  });
  socket.addEventListener('message', (message) => receive(String(message.data)));
  socket.addEventListener('close', () => {
    model.connected = false;
    model.finished = true;
    status(mode === 'live'
      ? `finished: the run ended (${model.events.length} events); replay it with rlnc-testbed replay`
      : `replay: ${model.events.length} events loaded`);
    render();
  });
  socket.addEventListener('error', () => status('error: the dashboard cannot be reached'));
}

// -- replay ---------------------------------------------------------------------------------

let timer = null;

function step() {
  timer = null;
  if (!model.playing) return;
  if (model.position >= model.events.length) {
    if (model.finished) pause();
    else timer = setTimeout(step, 100); // more events may still arrive
    return;
  }
  const event = model.events[model.position];
  applyEvent(model.state, event);
  model.position += 1;
  render();
  const dwell = DWELL_MS[event.event] ?? 100;
  timer = setTimeout(step, dwell / model.speed);
}

function play() {
  if (model.position >= model.events.length && model.finished) seek(0);
  model.playing = true;
  if (timer === null) timer = setTimeout(step, 0);
  renderControls();
}

function pause() {
  model.playing = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
  renderControls();
}

/** Show the state after `count` events (refolded from the start). */
function seek(count) {
  model.position = Math.max(0, Math.min(count, model.events.length));
  model.state = stateAt(model.events, model.position, { browsers: browsersOf(model.events) });
  render();
}

/** Slider value v: 0 is the start line, v >= 1 the end of the v-th round of the run. */
function seekMark(value) {
  const v = Math.max(0, Math.min(value, model.marks.length));
  seek(v === 0 ? Math.min(1, model.events.length) : model.marks[v - 1].index);
}

function currentMark() {
  let v = 0;
  for (const mark of model.marks) {
    if (mark.index <= model.position) v += 1;
    else break;
  }
  return v;
}

function renderControls() {
  if (mode !== 'replay') return;
  const slider = $('slider');
  slider.max = String(model.marks.length);
  if (document.activeElement !== slider) slider.value = String(currentMark());
  const v = Number(slider.value);
  const mark = v > 0 ? model.marks[v - 1] : null;
  $('slider-label').textContent = mark
    ? `round ${mark.round} of trial ${mark.trial + 1} (${v} / ${model.marks.length})`
    : `start (${model.marks.length} rounds)`;
  $('play').textContent = model.playing ? 'pause' : 'play';
  $('play').setAttribute('data-playing', String(model.playing));
  $('position').textContent = `${model.position} / ${model.events.length} events`;
}

function setUp() {
  if (mode === 'replay') {
    $('controls').hidden = false;
    $('play').addEventListener('click', () => (model.playing ? pause() : play()));
    const speed = $('speed');
    speed.value = String(model.speed);
    if (speed.value !== String(model.speed)) {
      speed.append(new Option(`${model.speed}×`, String(model.speed), true, true));
    }
    speed.addEventListener('change', () => {
      model.speed = Number(speed.value) || 1;
    });
    $('slider').addEventListener('input', (e) => {
      const value = Number(e.target.value); // before pause() redraws the slider
      pause();
      seekMark(value);
    });
  }
  $('mode').textContent = mode;
  render();
  connect();
}

setUp();
