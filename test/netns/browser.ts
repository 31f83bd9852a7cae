/**
 * Drives the live page (GET / of lvsd --metrics-listen) in Debian's headless Chromium through
 * playwright-core, for netns/tests/metrics-page.sh:
 *
 *   node dist/test/netns/browser.js URL SCREENSHOT [--settle S] [--expect SELECTOR=TEXT]... NAME...
 *
 * NAME is a service as the page names it ("TCP 198.18.100.1:80") or a real server of one
 * ("TCP 198.18.100.1:80 198.19.0.11:80"). Checks that the page goes live, shows every NAME,
 * and that the first service's packet counter and the charts' sample count rise without a
 * reload, and that each SELECTOR's text becomes TEXT; then waits S more seconds (default 0) and saves a full-page screenshot. Prints
 * PASS/FAIL lines; exits 1 on the first failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function pass(msg: string): void {
  process.stdout.write(`PASS: ${msg}\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let settle = 0;
  const expects: Array<[string, string]> = [];
  for (let i = argv.indexOf('--settle'); i >= 0; i = argv.indexOf('--settle')) settle = Number(argv.splice(i, 2)[1]);
  for (let i = argv.indexOf('--expect'); i >= 0; i = argv.indexOf('--expect')) {
    const e = argv.splice(i, 2)[1];
    const eq = e.lastIndexOf('=');
    expects.push([e.slice(0, eq), e.slice(eq + 1)]);
  }
  const [url, shot, ...names] = argv;
  if (!url || !shot || names.length === 0) throw new Error('usage: browser.js URL SCREENSHOT [--settle S] NAME...');
  // A fresh profile each run (the --user-data-dir of the flags above).
  const profile = mkdtempSync(join(tmpdir(), 'lvsd-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
  });
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    await page.goto(url, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForSelector('#status.live', { timeout: 20_000 });
    pass('the page connected to its event stream');
    // Browser-side code as strings: this file is compiled without the DOM library.
    await page.evaluate('window.loadedOnce = 1');
    for (const n of names) {
      const sel = n.split(' ').length === 3 ? `tr[data-dest="${n}"]` : `tr[data-service="${n}"]`;
      await page.waitForSelector(sel, { timeout: 10_000 });
    }
    pass(`the page shows every service and real server (${names.length})`);
    const cellOf = `document.querySelector('tr[data-service="${names[0]}"] td[data-field="inpkts"]')`;
    const counter = async (): Promise<number> => Number(await page.evaluate(`${cellOf}.textContent`));
    const c0 = await counter();
    await page.waitForFunction(`Number(${cellOf}.textContent) > ${c0}`, undefined, { timeout: 20_000, polling: 250 });
    const c1 = await counter();
    if (await page.evaluate('window.loadedOnce !== 1')) throw new Error('the page was reloaded');
    pass(`${names[0]} in packets rose from ${c0} to ${c1} without a reload`);
    for (const [sel, text] of expects) {
      await page.waitForFunction(`document.querySelector(${JSON.stringify(sel)})?.textContent === ${JSON.stringify(text)}`,
        undefined, { timeout: 20_000, polling: 250 });
      pass(`${sel} shows ${text}`);
    }
    const charts = Number(await page.evaluate("document.querySelectorAll('.uplot').length"));
    if (charts !== 3) throw new Error(`expected 3 charts, found ${charts}`);
    const samplesOf = "Number(document.querySelector('.charts').dataset.samples || 0)";
    const s0 = Number(await page.evaluate(samplesOf));
    await page.waitForFunction(`${samplesOf} > ${s0 + 1}`, undefined, { timeout: 20_000, polling: 250 });
    pass(`the three charts take new samples by themselves (${s0} -> ${await page.evaluate(samplesOf)})`);
    if (settle > 0) await page.waitForTimeout(settle * 1000);
    await page.screenshot({ path: shot, fullPage: true });
    pass(`screenshot saved`);
    process.stdout.write(`artifact: ${shot}\n`);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stdout.write(`FAIL: ${err.message.split('\n')[0]}\n`);
  process.exit(1);
});
