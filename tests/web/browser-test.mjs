// browser-test.mjs: tests/36-web-browser.py's real-browser half. Debian's
// chromium, driven headless by playwright-core, opens the converse.js that
// junction-c2s serves, logs two users in (one browser context each),
// checks each sees the other online, exchanges a message each way and
// checks it appears in the other's chat. Every request that is not to the
// test's own loopback listener is aborted. A screenshot of each step goes
// to OUTDIR. Usage: node browser-test.mjs URL JID1 PW1 JID2 PW2 OUTDIR
// Exits non-zero, with the reason on stderr, when a check fails.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [url, jid1, pw1, jid2, pw2, outdir] = process.argv.slice(2);
const origin = new URL(url).origin;
const T = 20000;
let shot = 0;

async function snap(page, what) {
	const file = path.join(outdir, `${String(++shot).padStart(2, '0')}-${what}.png`);
	await page.screenshot({ path: file });
	console.log(`screenshot ${file}`);
}

async function open(browser, name) {
	const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
	// Nothing leaves the machine: only the test's listener is reachable.
	await ctx.route('**/*', (route) => {
		const u = route.request().url();
		if (u.startsWith(origin + '/') || u.startsWith('data:') || u.startsWith('blob:'))
			return route.continue();
		console.log(`blocked ${u}`);
		return route.abort();
	});
	const page = await ctx.newPage();
	page.on('pageerror', (e) => console.log(`${name} page error: ${e.message}`));
	return page;
}

async function login(page, jid, pw, name) {
	await page.goto(url);
	await page.locator('#converse-login-jid').waitFor({ timeout: T });
	await snap(page, `${name}-login-form`);
	await page.fill('#converse-login-jid', jid);
	await page.fill('#converse-login-password', pw);
	await page.locator('#converse-login-password').press('Enter');
	await page.locator('converse-roster').waitFor({ timeout: T });
}

// The roster entry of jid shows it online.
async function seesOnline(page, jid, name) {
	const item = page.locator(`li.list-item[data-status="online"]`, { hasText: jid.split('@')[0] });
	await item.first().waitFor({ timeout: T });
	await snap(page, `${name}-sees-${jid.split('@')[0]}-online`);
}

async function say(page, peer, text, name) {
	await page.locator('a.open-chat', { hasText: peer.split('@')[0] }).first().click();
	const box = page.locator('textarea.chat-textarea').first();
	await box.waitFor({ timeout: T });
	await box.fill(text);
	await box.press('Enter');
	await page.locator('.chat-msg__text', { hasText: text }).first().waitFor({ timeout: T });
	await snap(page, `${name}-sent`);
}

async function hears(page, peer, text, name) {
	// A message from a contact opens (or fills) its chat box.
	const msg = page.locator('.chat-msg__text', { hasText: text }).first();
	try {
		await msg.waitFor({ timeout: 5000 });
	} catch {
		await page.locator('a.open-chat', { hasText: peer.split('@')[0] }).first().click();
		await msg.waitFor({ timeout: T });
	}
	await snap(page, `${name}-received`);
}

const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	headless: true,
	args: ['--ignore-certificate-errors', '--no-sandbox', '--disable-gpu',
		'--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking',
		'--disable-component-update', '--disable-sync'],
});
let status = 0;
let a, b;
try {
	a = await open(browser, 'a');
	b = await open(browser, 'b');
	await login(a, jid1, pw1, 'a');
	await login(b, jid2, pw2, 'b');
	await seesOnline(a, jid2, 'a');
	await seesOnline(b, jid1, 'b');
	const m1 = `hello from ${jid1} ${Date.now()}`;
	const m2 = `and back from ${jid2} ${Date.now()}`;
	await say(a, jid2, m1, 'a');
	await hears(b, jid1, m1, 'b');
	await say(b, jid1, m2, 'b');
	await hears(a, jid2, m2, 'a');
	console.log('OK');
} catch (e) {
	status = 1;
	console.error(`FAILED: ${e.message}`);
	for (const [p, n] of [[a, 'a'], [b, 'b']])
		if (p) await snap(p, `${n}-failure`).catch(() => {});
} finally {
	await browser.close();
}
process.exit(status);
