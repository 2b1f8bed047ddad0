// What the Chromium tests share: launching Debian's chromium headless, and
// driving netdojo's chat page (log in, say, read the log).
'use strict';
const { chromium } = require('playwright-core');

const TIMEOUT = 15000;

function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page of its own (its own sessionStorage) logged in as `name` in lobby.
async function login(browser, url, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(url);
  await page.fill('#name', name);
  await page.fill('#room', 'lobby');
  await page.click('#login button');
  await page.waitForFunction((n) => document.querySelector('#status').textContent === 'online as ' + n, name);
  return page;
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.click('#say button');
}

const logText = (page) => page.$$eval('#log li', (lis) => lis.map((li) => li.textContent));
const waitLog = (page, needle) =>
  page.waitForFunction((n) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(n)), needle);
const waitOnline = (page, name) =>
  page.waitForFunction((n) => document.querySelector('#status').textContent === 'online as ' + n, name);

module.exports = { launch, login, say, logText, waitLog, waitOnline };
