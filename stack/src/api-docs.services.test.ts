/**
 * The stack's API page in a real browser (Debian's chromium driven by playwright-core) against a whole stack: `/docs`
 * renders the merged OpenAPI document with Swagger UI, one section per part, under its CSP with no violation and no
 * request to another origin. A screenshot lands in test-results/api-docs/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@tessera/protocol';
import { type Browser, chromium } from 'playwright-core';
import { loadConfig } from './config.js';
import { type RunningStack, startStack } from './stack.js';

const OUT = join(process.cwd(), 'test-results', 'api-docs');

let dir: string;
let stack: RunningStack;
let browser: Browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-api-docs-'));
  stack = await startStack(
    loadConfig({ TESSERA_DATA_DIR: join(dir, 'stack'), TESSERA_HTTP_PORT: '0', TESSERA_MQTT_PORT: '0' }),
    { log: silentLogger },
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the API page in a browser', () => {
  it('renders every part of the stack from /openapi.json, under its CSP, from the stack alone', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const violations: string[] = [];
    const errors: string[] = [];
    const origins = new Set<string>();
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith('data:')) origins.add(new URL(r.url()).origin);
    });
    const started = Date.now();
    const r = await page.goto(`${stack.urls.http}/docs`);
    assert.equal(r?.status(), 200);
    await page.waitForSelector('.opblock-tag', { timeout: 30_000 });
    const ms = Date.now() - started;
    const tags = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
    assert.deepEqual(tags, ['issuer', 'verifier', 'offerings', 'energy', 'exchange', 'whiteflag']);
    const paths = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.getAttribute('data-path')));
    assert.ok(paths.includes('/verifier/presentations'), 'the verifier is documented under its mount point');
    assert.ok(paths.includes('/issuer/credentials'));
    assert.ok(paths.length > 60, `${paths.length} operations`);
    // open one operation: its request body schema is shown
    await page.locator('.opblock-summary-path[data-path="/verifier/presentation-requests"]').click();
    await page.waitForSelector('.opblock.is-open .opblock-body', { timeout: 10_000 });
    assert.match(await page.locator('.opblock.is-open').innerText(), /resource/);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'docs.png') });
    assert.deepEqual(violations, [], 'no CSP violation');
    assert.deepEqual(errors, [], 'no error in the page');
    assert.deepEqual([...origins], [new URL(stack.urls.http).origin], 'nothing from another origin');
    console.log(`# /docs rendered ${paths.length} operations in ${ms} ms`);
    await page.close();
  });
});
