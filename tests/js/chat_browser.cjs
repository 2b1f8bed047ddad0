// Two headless Chromium pages on `netdojo ws serve`'s own page: they chat,
// see each other arrive, render a <script> message as text, get their check
// marks, and a page that goes away and comes back (and one that reloads)
// recovers what it missed. Prints one JSON summary; exits 1 on a mismatch.
//
// usage: node chat_browser.cjs http://127.0.0.1:PORT/
'use strict';
const { launch, login: loginAt, say, logText, waitLog, waitOnline } = require('./page.cjs');

const url = process.argv[2];
const login = (browser, name) => loginAt(browser, url, name);

(async () => {
  const browser = await launch();
  const summary = {};
  try {
    const ada = await login(browser, 'ada');
    const bob = await login(browser, 'bob');

    // Presence: ada sees bob arrive, and both are listed.
    await waitLog(ada, 'bob joined #lobby');
    await ada.waitForFunction(() => document.querySelector('#members').textContent.includes('bob'));
    summary.members = await ada.$$eval('#members li', (lis) => lis.map((li) => li.textContent));

    // A message with markup is shown as the text it is, and runs nothing.
    await say(bob, '<script>window.pwned = 1</script><b>bold?</b>');
    await waitLog(ada, '<script>window.pwned = 1</script>');
    summary.script_ran = await ada.evaluate(() => window.pwned === 1);
    summary.bold_elements = await ada.$$eval('#log b', (bs) => bs.length);
    // The sender's own line gets its check mark once the server acknowledged it.
    await bob.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes('bold?') && li.querySelector('.ack')));
    summary.ack_mark = true;

    // bob goes away (another page in the same tab); ada says three things.
    await bob.goto('about:blank');
    await waitLog(ada, 'bob left #lobby');
    for (let i = 1; i <= 3; i++) await say(ada, `while you were away ${i}`);
    await waitLog(ada, 'while you were away 3');
    // bob comes back: the page resumes from the last id it saw.
    await bob.goto(url);
    await waitLog(bob, 'while you were away 3');
    const back = await logText(bob);
    summary.recovered = back.filter((t) => t.includes('while you were away') && t.includes('(recovered)')).length;
    summary.recovered_lines = back.filter((t) => t.includes('while you were away'));

    // A reload comes straight back under the same name (its session token
    // takes the name over from the connection the reload left behind).
    await say(ada, 'just before the reload');
    await waitLog(bob, 'just before the reload');
    await bob.reload();
    await waitOnline(bob, 'bob');
    await say(ada, 'after the reload');
    await waitLog(bob, 'after the reload');
    const errors = (await logText(bob)).filter((t) => t.includes('name_taken'));
    summary.name_taken_after_reload = errors.length;
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
