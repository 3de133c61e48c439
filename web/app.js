// taskmaster's dashboard: everything arrives by push over one WebSocket (/ws);
// an attach pane opens a second one (/ws/attach). No request is repeated on a
// timer: the only timer here ticks the uptimes shown, locally.
'use strict';

const $ = (selector) => document.querySelector(selector);
const SIGNALS = ['TERM', 'HUP', 'INT', 'USR1', 'USR2', 'QUIT', 'KILL'];
const MAX_EVENTS = 300;
const MAX_TAIL = 200000;

let live = null;
let nextId = 1;
const pending = new Map();
let instances = [];
let statusAt = 0;
let tail = { seq: 0, name: null, decoder: null };
let attach = null;

function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${path}`;
}

function connect() {
  live = new WebSocket(wsUrl('/ws'));
  live.binaryType = 'arraybuffer';
  live.onopen = () => {
    setConnection(true);
    if (tail.name) live.send(JSON.stringify({ type: 'tail', name: tail.name }));
  };
  live.onclose = () => {
    setConnection(false);
    for (const [, done] of pending) done({ ok: false, exit: 1, output: 'connection lost' });
    pending.clear();
    // Back when the daemon is (a restart, a network hiccup).
    setTimeout(connect, 2000);
  };
  live.onmessage = (message) => {
    if (typeof message.data === 'string') onMessage(JSON.parse(message.data));
    else onTailBytes(new Uint8Array(message.data));
  };
}

function setConnection(up) {
  const el = $('#connection');
  el.textContent = up ? 'live' : 'disconnected';
  el.className = up ? 'up' : 'down';
}

function onMessage(m) {
  switch (m.type) {
    case 'status':
      $('#version').textContent = `v${m.version}`;
      instances = Array.isArray(m.instances) ? m.instances : [];
      statusAt = performance.now();
      renderInstances();
      break;
    case 'event':
      addEvent(m.event);
      break;
    case 'reply': {
      const done = pending.get(m.id);
      pending.delete(m.id);
      if (done) done(m.reply);
      break;
    }
    case 'tail':
      if (m.name !== tail.name) break;
      tail.seq = m.seq;
      tail.decoder = new TextDecoder();
      $('#tail-output').textContent = m.text ? `${m.text}\n` : '';
      if (!m.ok) $('#tail-output').textContent = m.text;
      scrollTail();
      break;
    case 'error':
      showMessage(m.message, true);
      break;
  }
}

/// Runs a command as `POST /api/command` would, over the live connection.
function command(name, args) {
  return new Promise((resolve) => {
    if (!live || live.readyState !== WebSocket.OPEN) {
      resolve({ ok: false, exit: 1, output: 'not connected' });
      return;
    }
    const id = nextId++;
    pending.set(id, resolve);
    live.send(JSON.stringify({ type: 'command', id, command: name, args }));
  });
}

async function act(cmd, args) {
  showMessage(`${cmd} ${args.join(' ')}…`, false);
  const reply = await command(cmd, args);
  showMessage(reply.output || (reply.ok ? 'ok' : 'failed'), !reply.ok);
}

function showMessage(text, error) {
  const el = $('#message');
  el.hidden = false;
  el.textContent = text;
  el.className = error ? 'error' : '';
}

function formatUptime(seconds) {
  if (seconds == null) return '';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function formatBytes(bytes) {
  if (bytes == null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, action, handler, disabled) {
  const b = document.createElement('button');
  b.textContent = label;
  b.dataset.action = action;
  b.disabled = !!disabled;
  b.addEventListener('click', handler);
  return b;
}

function actions(td, target, state, single) {
  const running = ['RUNNING', 'STARTING', 'BACKOFF'].includes(state);
  td.appendChild(button('start', 'start', () => act('start', [target]), single && running));
  td.appendChild(button('stop', 'stop', () => act('stop', [target]), single && !running && state !== 'STOPPING'));
  td.appendChild(button('restart', 'restart', () => act('restart', [target])));
  const select = document.createElement('select');
  select.dataset.action = 'signal-name';
  for (const sig of SIGNALS) {
    const option = document.createElement('option');
    option.value = sig;
    option.textContent = sig;
    select.appendChild(option);
  }
  td.appendChild(select);
  td.appendChild(button('signal', 'signal', () => act('signal', [select.value, target])));
}

function renderInstances() {
  const body = $('#instances tbody');
  body.textContent = '';
  const elapsed = (performance.now() - statusAt) / 1000;
  let group = null;
  for (const i of instances) {
    const colon = i.name.indexOf(':');
    const program = colon > 0 ? i.name.slice(0, colon) : null;
    if (program && program !== group) {
      const row = document.createElement('tr');
      row.className = 'group';
      row.dataset.group = program;
      const td = cell(row, `${program}:*`);
      td.colSpan = 8;
      actions(cell(row, ''), `${program}:*`, '', false);
      body.appendChild(row);
    }
    group = program;
    const row = document.createElement('tr');
    row.dataset.name = i.name;
    cell(row, i.name, 'name');
    const state = document.createElement('span');
    state.className = `state ${i.state}`;
    state.textContent = i.state;
    cell(row, '').appendChild(state);
    cell(row, i.health == null ? '—' : i.health, 'health');
    cell(row, i.pid || '', 'num pid');
    const up = i.uptime_s == null ? null : i.uptime_s + (i.state === 'RUNNING' ? elapsed : 0);
    const upCell = cell(row, formatUptime(up), 'num uptime');
    upCell.dataset.base = i.uptime_s == null ? '' : String(i.uptime_s);
    cell(row, i.restarts, 'num');
    cell(row, i.cpu_percent == null ? '' : `${i.cpu_percent.toFixed(1)}%`, 'num');
    cell(row, formatBytes(i.memory_bytes), 'num');
    const td = cell(row, '');
    actions(td, i.name, i.state, true);
    td.appendChild(button('tail', 'tail', () => openTail(i.name)));
    td.appendChild(button('attach', 'attach', () => openAttach(i.name), i.state !== 'RUNNING'));
    body.appendChild(row);
  }
}

// Uptimes go on between two tables without asking the daemon.
setInterval(() => {
  const elapsed = (performance.now() - statusAt) / 1000;
  for (const td of document.querySelectorAll('#instances td.uptime')) {
    if (td.dataset.base === '') continue;
    const state = td.parentElement.querySelector('.state');
    if (state && state.textContent === 'RUNNING') {
      td.textContent = formatUptime(Number(td.dataset.base) + elapsed);
    }
  }
}, 1000);

function addEvent(e) {
  const list = $('#events');
  const li = document.createElement('li');
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = new Date(e.time).toLocaleTimeString();
  li.appendChild(time);
  li.appendChild(document.createTextNode(e.message));
  li.dataset.kind = e.kind;
  if (e.kind === 'lost') li.className = 'lost';
  list.appendChild(li);
  while (list.children.length > MAX_EVENTS) list.removeChild(list.firstChild);
  list.scrollTop = list.scrollHeight;
}

function openTail(name) {
  tail = { seq: -1, name, decoder: new TextDecoder() };
  $('#tail-pane').hidden = false;
  $('#tail-name').textContent = name;
  $('#tail-output').textContent = '';
  live.send(JSON.stringify({ type: 'tail', name }));
}

function closeTail() {
  tail = { seq: -1, name: null, decoder: null };
  $('#tail-pane').hidden = true;
  if (live && live.readyState === WebSocket.OPEN) live.send(JSON.stringify({ type: 'tail' }));
}

function onTailBytes(bytes) {
  if (bytes.length < 4 || !tail.decoder) return;
  const seq = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  if (seq !== tail.seq) return;
  const out = $('#tail-output');
  let text = out.textContent + tail.decoder.decode(bytes.subarray(4), { stream: true });
  if (text.length > MAX_TAIL) text = text.slice(text.length - MAX_TAIL);
  out.textContent = text;
  scrollTail();
}

function scrollTail() {
  const out = $('#tail-output');
  out.scrollTop = out.scrollHeight;
}

// The attach frames of the socket protocol: input, and the window size.
function inputFrames(bytes) {
  const frames = [];
  for (let at = 0; at < bytes.length; at += 65535) {
    const chunk = bytes.subarray(at, at + 65535);
    const frame = new Uint8Array(chunk.length + 3);
    frame[0] = 0;
    frame[1] = chunk.length >> 8;
    frame[2] = chunk.length & 255;
    frame.set(chunk, 3);
    frames.push(frame);
  }
  return frames;
}

function sizeFrame(rows, cols) {
  return new Uint8Array([1, rows >> 8, rows & 255, cols >> 8, cols & 255]);
}

function openAttach(name) {
  closeAttach();
  $('#attach-pane').hidden = false;
  $('#attach-name').textContent = name;
  $('#attach-state').textContent = 'attaching…';
  const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 2000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  $('#terminal').textContent = '';
  term.open($('#terminal'));
  fit.fit();
  const socket = new WebSocket(wsUrl(`/ws/attach?name=${encodeURIComponent(name)}`));
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  const session = { term, fit, socket, name, pty: false, detachKey: null, line: '' };
  attach = session;
  const sendSize = () => {
    if (session.pty && socket.readyState === WebSocket.OPEN) socket.send(sizeFrame(term.rows, term.cols));
  };
  socket.onmessage = (message) => {
    if (typeof message.data === 'string') {
      const m = JSON.parse(message.data);
      const reply = m.reply || {};
      if (m.type === 'reply') {
        session.pty = !!(reply.data && reply.data.pty);
        if (reply.data && reply.data.detach_key != null) session.detachKey = String.fromCharCode(reply.data.detach_key);
        $('#attach-state').textContent = reply.ok ? 'attached' : 'not attached';
        term.write(`${(reply.output || '').replace(/\n/g, '\r\n')}\r\n`);
        sendSize();
      }
      return;
    }
    term.write(new Uint8Array(message.data));
  };
  socket.onclose = () => {
    if (attach === session) $('#attach-state').textContent = 'detached';
  };
  term.onData((data) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    // The detach key detaches here too, as in a terminal.
    if (session.detachKey && data.includes(session.detachKey)) {
      closeAttach();
      $('#attach-pane').hidden = true;
      return;
    }
    if (session.pty) {
      for (const frame of inputFrames(encoder.encode(data))) socket.send(frame);
    } else {
      editLine(session, data);
    }
  });
  term.onResize(sendSize);
  session.onWindowResize = () => fit.fit();
  window.addEventListener('resize', session.onWindowResize);
  term.focus();
}

// A pipe program has no terminal to echo and edit what is typed: as
// `taskmasterctl attach` does, the page keeps the line, shows it, and sends it
// whole on Enter; Ctrl-C clears it and interrupts the program (its own frame).
function editLine(session, data) {
  const { term, socket } = session;
  for (const ch of data) {
    if (ch === '\r' || ch === '\n') {
      term.write('\r\n');
      const bytes = new TextEncoder().encode(`${session.line}\n`);
      for (const frame of inputFrames(bytes)) socket.send(frame);
      session.line = '';
    } else if (ch === '\x7f' || ch === '\b') {
      if (session.line.length > 0) {
        session.line = session.line.slice(0, -1);
        term.write('\b \b');
      }
    } else if (ch === '\x03') {
      session.line = '';
      term.write('^C\r\n');
      socket.send(new Uint8Array([2]));
    } else if (ch >= ' ') {
      session.line += ch;
      term.write(ch);
    }
  }
}

function closeAttach() {
  if (!attach) return;
  const session = attach;
  attach = null;
  window.removeEventListener('resize', session.onWindowResize);
  session.socket.close();
  session.term.dispose();
  $('#attach-state').textContent = 'detached';
}

$('#detach').addEventListener('click', () => {
  closeAttach();
  $('#attach-pane').hidden = true;
});
$('#tail-close').addEventListener('click', closeTail);
$('#reload').addEventListener('click', async () => {
  const out = $('#reload-result');
  out.hidden = false;
  out.className = '';
  out.textContent = 'reloading…';
  const reply = await command('reload', []);
  out.textContent = reply.output || (reply.ok ? 'reloaded: nothing changed' : 'reload failed');
  out.className = reply.ok ? '' : 'error';
});

connect();
