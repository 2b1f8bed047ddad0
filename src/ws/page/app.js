// The chat page's client: one WebSocket to /ws on the server that served
// this page. Events are JSON objects in text frames (see lesson 6).
// Everything a peer wrote is inserted with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  ws: null,
  name: sessionStorage.getItem('netdojo.name') || '',
  // The server's token for our name: after a reload it lets this tab take
  // its name back from the connection the reload left behind.
  session: sessionStorage.getItem('netdojo.session') || '',
  room: sessionStorage.getItem('netdojo.room') || 'lobby',
  // room -> last message id seen, kept across reloads for recovery.
  lastSeen: JSON.parse(sessionStorage.getItem('netdojo.lastSeen') || '{}'),
  // The server process those ids came from (welcome's `server`): a
  // restarted server counts from 1 again.
  server: sessionStorage.getItem('netdojo.server') || '',
  rooms: new Set(JSON.parse(sessionStorage.getItem('netdojo.rooms') || '[]')),
  members: {},
  pending: new Map(), // ack number -> list item waiting for its check mark
  nextAck: 1,
  backoff: 250,
  everConnected: false,
};

function save() {
  sessionStorage.setItem('netdojo.name', state.name);
  sessionStorage.setItem('netdojo.session', state.session);
  sessionStorage.setItem('netdojo.server', state.server);
  sessionStorage.setItem('netdojo.room', state.room);
  sessionStorage.setItem('netdojo.lastSeen', JSON.stringify(state.lastSeen));
  sessionStorage.setItem('netdojo.rooms', JSON.stringify([...state.rooms]));
}

function line(cls, parts) {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  for (const [text, pcls] of parts) {
    const span = document.createElement('span');
    if (pcls) span.className = pcls;
    span.textContent = text;
    li.appendChild(span);
  }
  const log = $('log');
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.appendChild(li);
  if (atBottom) log.scrollTop = log.scrollHeight;
  return li;
}

function system(text, cls) { return line('system ' + (cls || ''), [[text]]); }

function setStatus(text, online) {
  $('status').textContent = text;
  $('status').className = 'status ' + (online ? 'online' : 'offline');
}

function emit(event) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(event));
    return true;
  }
  return false;
}

function renderRooms() {
  const ul = $('rooms');
  ul.replaceChildren();
  for (const r of [...state.rooms].sort()) {
    const li = document.createElement('li');
    if (r === state.room) li.className = 'current';
    const b = document.createElement('button');
    b.textContent = '#' + r;
    b.onclick = () => { state.room = r; save(); renderRooms(); renderMembers(); };
    li.appendChild(b);
    ul.appendChild(li);
  }
}

function renderMembers() {
  const ul = $('members');
  ul.replaceChildren();
  for (const m of state.members[state.room] || []) {
    const li = document.createElement('li');
    li.textContent = m;
    ul.appendChild(li);
  }
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const ws = new WebSocket(url);
  state.ws = ws;
  setStatus('connecting…', false);
  ws.onopen = () => {
    const hello = { type: 'hello', name: state.name };
    if (state.session) hello.session = state.session;
    const resume = {};
    for (const r of state.rooms) resume[r] = state.lastSeen[r] || 0;
    if (state.everConnected || Object.keys(resume).length) {
      hello.resume = resume;
      if (state.server) hello.server = state.server;
    }
    emit(hello);
  };
  ws.onmessage = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch { return; }
    handle(ev);
  };
  ws.onclose = (e) => {
    setStatus('offline', false);
    if (e.code === 1008 || e.code === 1009 || e.code === 1007) {
      system(`the server closed the connection (${e.code}: ${e.reason})`, 'error');
    }
    if (state.name) {
      const wait = state.backoff + Math.random() * state.backoff / 2;
      state.backoff = Math.min(state.backoff * 2, 5000);
      system(`disconnected; reconnecting in ${(wait / 1000).toFixed(1)} s`);
      setTimeout(connect, wait);
    }
  };
}

function handle(ev) {
  switch (ev.type) {
    case 'welcome': {
      state.backoff = 250;
      state.session = ev.session;
      state.server = ev.server || '';
      save();
      setStatus('online as ' + ev.name, true);
      $('login').hidden = true;
      $('chat').hidden = false;
      if (!state.everConnected && state.rooms.size === 0) emit({ type: 'join', room: state.room });
      state.everConnected = true;
      system(`connected as ${ev.name}; each room keeps its last ${ev.history} messages for recovery`);
      break;
    }
    case 'message': {
      if (ev.id <= (state.lastSeen[ev.room] || 0)) break; // seen already
      state.lastSeen[ev.room] = ev.id;
      save();
      const li = line(ev.replayed ? 'replayed' : '', [
        [`#${ev.room} `, 'meta'],
        [ev.from, 'name'],
        [': ' + ev.text],
        [ev.replayed ? '  (recovered)' : '', 'meta'],
      ]);
      li.dataset.key = ev.room + ':' + ev.id;
      break;
    }
    case 'ack': {
      const room = state.pending.get(ev.ack);
      state.pending.delete(ev.ack);
      const li = room && ev.id && [...document.querySelectorAll('#log li')]
        .find((l) => l.dataset.key === room + ':' + ev.id);
      if (li) {
        const s = document.createElement('span');
        s.className = 'ack';
        s.textContent = ' ✓';
        s.title = ev.id ? `stored as message ${ev.id}` : 'delivered';
        li.appendChild(s);
      }
      break;
    }
    case 'whisper':
      line('whisper', [[`${ev.from} → ${ev.to}: `, 'name'], [ev.text]]);
      break;
    case 'presence': {
      state.members[ev.room] = ev.members;
      if (ev.name === state.name && ev.event === 'joined') { state.rooms.add(ev.room); save(); renderRooms(); }
      if (ev.name === state.name && ev.event === 'left') { state.rooms.delete(ev.room); save(); renderRooms(); }
      if (ev.name !== state.name) system(`${ev.name} ${ev.event} #${ev.room}`);
      renderMembers();
      break;
    }
    case 'resumed':
      // The replay that follows counts from the server's `after` (0 after
      // a restart, whatever we had seen before).
      state.lastSeen[ev.room] = ev.after;
      save();
      if (ev.restarted) {
        system(`#${ev.room}: the server restarted since we were here; what was said after our last message is gone`);
      }
      if (ev.replayed || ev.lost) {
        system(`#${ev.room}: recovering ${ev.replayed} missed message(s)` + (ev.lost ? `; ${ev.lost} too old to recover` : ''));
      }
      break;
    case 'typing':
      if (ev.room === state.room) {
        $('typing').textContent = `${ev.name} is typing…`;
        clearTimeout(handle.typingTimer);
        handle.typingTimer = setTimeout(() => { $('typing').textContent = ''; }, 2000);
      }
      break;
    case 'error':
      system(`error (${ev.code}): ${ev.message}`, 'error');
      if (ev.code === 'name_taken' || ev.code === 'bad_name') {
        state.name = '';
        save();
        state.ws.close(1000);
        $('login').hidden = false;
        $('chat').hidden = true;
      }
      break;
  }
}

$('login').onsubmit = (e) => {
  e.preventDefault();
  state.name = $('name').value.trim();
  state.room = $('room').value.trim() || 'lobby';
  state.rooms = new Set();
  state.lastSeen = {};
  state.session = '';
  save();
  connect();
};

$('joinform').onsubmit = (e) => {
  e.preventDefault();
  const room = $('joinroom').value.trim();
  if (room && emit({ type: 'join', room })) { state.room = room; $('joinroom').value = ''; save(); }
};

$('say').onsubmit = (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text) return;
  const ack = state.nextAck++;
  const w = text.match(/^\/w\s+(\S+)\s+([\s\S]+)$/);
  const sent = w ? emit({ type: 'whisper', to: w[1], text: w[2], ack })
                 : emit({ type: 'say', room: state.room, text, ack });
  if (!sent) { system('not connected: the message was not sent', 'error'); return; }
  // Our own message comes back as a broadcast; the ack that follows it
  // says it was stored, and puts a check mark on it.
  if (!w) state.pending.set(ack, state.room);
  $('text').value = '';
};

let lastTyping = 0;
$('text').oninput = () => {
  const now = Date.now();
  if (now - lastTyping > 1500) { lastTyping = now; emit({ type: 'typing', room: state.room }); }
};

if (state.name) { $('name').value = state.name; connect(); }
