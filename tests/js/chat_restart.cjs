// Two headless Chromium pages on `netdojo ws serve`'s own page, through a
// proxy the test controls; halfway, the server is replaced by a new process
// (a restart). The pages reconnect by themselves and must show the new
// server's messages, although its ids start again at 1 (ids the pages have
// already seen from the old server). Prints "restart" and waits for a line
// on stdin before going on; then one JSON summary; exits 1 on a mismatch.
//
// usage: node chat_restart.cjs http://127.0.0.1:PORT/
'use strict';
const readline = require('readline');
const { launch, login: loginAt, say, logText, waitLog, waitOnline } = require('./page.cjs');

const url = process.argv[2];
const login = (browser, name) => loginAt(browser, url, name);
const input = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => input.once('line', resolve));

(async () => {
  const browser = await launch();
  const summary = {};
  try {
    const ada = await login(browser, 'ada');
    const bob = await login(browser, 'bob');
    await waitLog(ada, 'bob joined #lobby');
    for (let i = 1; i <= 4; i++) await say(ada, `old server ${i}`);
    await waitLog(bob, 'old server 4');

    console.log('restart');
    await nextLine();

    // Both pages notice, reconnect and resume; the new server tells them
    // their ids were another process's.
    await waitLog(bob, 'the server restarted');
    await waitOnline(ada, 'ada');
    await waitOnline(bob, 'bob');
    for (let i = 1; i <= 3; i++) await say(ada, `new server ${i}`);
    await waitLog(bob, 'new server 3');
    const lines = await logText(bob);
    summary.old = lines.filter((t) => t.includes('old server')).length;
    summary.new = lines.filter((t) => t.includes('new server')).map((t) => t.match(/new server \d/)[0]);
    summary.restart_notices = lines.filter((t) => t.includes('the server restarted')).length;
    summary.ok = true;
  } catch (e) {
    summary.ok = false;
    summary.error = String(e && e.message || e).split('\n')[0];
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
})();
