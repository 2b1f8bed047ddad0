// The peer of bench/ws/run.sh: a socket.io server doing what `netdojo ws
// serve` does for the benchmark: every client joins one room, and every `say`
// is broadcast to the whole room (sender included) as a `message` event with
// an id, the sender and a timestamp. WebSocket transport only, no
// compression, as netdojo. Prints {"event":"listening","addr":...} first.
const http = require('http');
const { Server } = require('socket.io');

const srv = http.createServer();
const io = new Server(srv, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
});
let id = 0;
io.on('connection', (socket) => {
  socket.on('hello', (m) => {
    socket.data.name = String(m && m.name);
  });
  socket.on('join', (m) => {
    socket.join(String(m && m.room));
  });
  socket.on('say', (m) => {
    id += 1;
    io.to(String(m.room)).emit('message', {
      id,
      room: m.room,
      from: socket.data.name,
      text: m.text,
      ts: Date.now(),
    });
  });
});
srv.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', addr: `127.0.0.1:${srv.address().port}` }));
});
process.on('SIGTERM', () => process.exit(0));
