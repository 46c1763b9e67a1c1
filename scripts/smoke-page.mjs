#!/usr/bin/env node
// Open the storefront page in headless Chromium, search, click a result, check recommendations,
// and save a screenshot. Usage: node scripts/smoke-page.mjs URL QUERY SCREENSHOT.png
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
const require = createRequire(resolve(process.env.SHOPAI_ROOT || '.', 'tests/package.json'));
const { chromium } = require('playwright-core');

const [url, query = 'star wars', shot = 'screenshot.png'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(url);
  await page.evaluate(() => window.shopai.ready);
  await page.fill('#q', query);
  await page.click('button[type=submit]');
  await page.waitForSelector('#results li');
  const mode = await page.getAttribute('#status', 'data-mode');
  if (url.includes('embeddings=') && mode !== 'semantic') {
    throw new Error(`expected a semantic answer, got ${mode}: ${await page.textContent('#status')}`);
  }
  await page.click('#results li');
  await page.waitForSelector('#recs li .why');
  const results = await page.$$eval('#results li .title', (e) => e.map((x) => x.textContent));
  const recs = await page.$$eval('#recs li .title', (e) => e.map((x) => x.textContent));
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ status: await page.textContent('#status'), query, results: results.slice(0, 3), recommended: recs.slice(0, 3), screenshot: shot }, null, 2));
} finally {
  await browser.close();
}
