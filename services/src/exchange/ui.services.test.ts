import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildExchangeRouter } from './http.js';
import {
  type ExchangeFixture,
  newOrg,
  type Org,
  startExchangeFixture,
  startVerifier,
  type VerifierFixture,
} from './testing.js';

/**
 * The HTML interface in a real browser: Debian's chromium driven by playwright-core (never a downloaded browser),
 * against the exchange and the real verifier on localhost. Two organisations, each in its own browser profile, run a
 * supplier onboarding and a forward under consent through the pages; the screenshot lands in test-results/.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(process.cwd(), 'test-results', 'exchange-ui.png');

let fx: ExchangeFixture;
let vf: VerifierFixture;
let server: Server;
let base = '';
const buyer = newOrg('Acme Buyer GmbH');
const supplier = newOrg('Solar Parts SARL');
const auditor = newOrg('Green Audit BV');
const profiles: string[] = [];
const contexts: BrowserContext[] = [];

async function browserFor(): Promise<Page> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
  profiles.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1800 },
  });
  contexts.push(context);
  return context.pages()[0] ?? context.newPage();
}

/** Submit a form by clicking `selector` and wait for the page the server redirects to. */
async function submit(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.click(selector)]);
}

const notice = (page: Page) => page.locator('#notice').textContent();
const error = (page: Page) => page.locator('#error').textContent();

async function signIn(page: Page, org: Org): Promise<void> {
  const t = await vf.token(org, [await vf.credential(org)]);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  await page.goto(`${base}/data/exchange/ui/`);
  // Without a token the guard refuses and the interface asks to sign in.
  assert.match(page.url(), /\/ui\/login\?error=ERR_AUTH_REQUIRED/);
  await page.fill('#token', t.body.access_token as string);
  await submit(page, '#sign-in');
  assert.match((await page.locator('#me').textContent()) ?? '', new RegExp(org.did));
  await page.fill('#partner-name', org.name);
  await submit(page, '#partner button');
  assert.equal(await notice(page), 'Registered as a data partner.');
}

before(async () => {
  statSync(CHROMIUM); // fails clearly when the Debian package is missing (.ci/run installs it)
  fx = await startExchangeFixture();
  fx.keyring.add(buyer).add(supplier);
  const app = express();
  vf = await startVerifier(fx.resolver, app, () => base);
  app.use('/data/exchange', buildExchangeRouter({ service: fx.service, requireCredentials: vf.core.guard }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.ok((await fx.service.registerPartner(auditor.actor, auditor.name)).ok);
});

after(async () => {
  for (const c of contexts) await c.close();
  server?.close();
  await fx?.close();
  for (const d of profiles) rmSync(d, { recursive: true, force: true });
});

describe('data exchange HTML interface in chromium', () => {
  it('runs supplier onboarding and a forward under consent through the pages, then shows the verified trail', async () => {
    const b = await browserFor();
    const s = await browserFor();
    await signIn(b, buyer);
    await signIn(s, supplier);

    // questionnaire
    await b.reload();
    await b.selectOption('#request-to', supplier.did);
    await b.check('#request-onboarding');
    await submit(b, '#send-request button');
    assert.equal(await notice(b), 'Questionnaire signed and sent.');

    await s.reload();
    await submit(s, 'tr[data-kind="request"] button[name="ack"]');
    assert.equal(await notice(s), 'Acknowledged with your signature.');

    // an answer that does not fit the questionnaire is refused with its code, then a good one is sent
    const answer = s.locator('form[data-request]');
    await answer.locator('[name="q.legalName"]').fill('Solar Parts SARL');
    await answer.locator('[name="q.vatId"]').fill('not-a-vat-id');
    await answer.locator('[name="q.employees"]').fill('42');
    await answer.locator('[name="q.iso14001"]').selectOption('true');
    await answer.locator('[name="q.country"]').selectOption('FR');
    await submit(s, 'form[data-request] button');
    assert.match((await error(s)) ?? '', /^ERR_EXCHANGE_ANSWER_INVALID: .*vatId/);
    await answer.locator('[name="q.legalName"]').fill('Solar Parts SARL');
    await answer.locator('[name="q.vatId"]').fill('FR12345678901');
    await answer.locator('[name="q.employees"]').fill('42');
    await answer.locator('[name="q.iso14001"]').selectOption('true');
    await answer.locator('[name="q.renewableShare"]').fill('87.5');
    await answer.locator('[name="q.country"]').selectOption('FR');
    await submit(s, 'form[data-request] button');
    assert.equal(await notice(s), 'Answer signed and sent.');

    await b.reload();
    await submit(b, 'tr[data-kind="answer"] button[name="ack"]');

    // certificate: a document referenced by its hash
    await s.reload();
    await s.selectOption('#data-to', buyer.did);
    await s.fill('#data-label', 'certificate');
    await s.fill('#data-document', 'ISO 14001:2015 certificate no. 2026-0042, Solar Parts SARL');
    await s.fill('#data-title', 'ISO 14001 certificate');
    const processId = await s.locator('#data-process option:nth-child(2)').getAttribute('value');
    assert.ok(processId);
    await s.selectOption('#data-process', processId);
    await submit(s, '#send-data button');
    assert.equal(await notice(s), 'Data signed and sent.');

    await b.reload();
    await submit(b, 'tr[data-kind="data"] button[name="ack"]');
    await b.selectOption('#decision-process', processId);
    await submit(b, '#approve');
    assert.equal(await notice(b), 'Decision signed and sent.');

    await s.reload();
    await submit(s, 'tr[data-kind="decision"] button[name="ack"]');
    const row = s.locator(`tr[data-process="${processId}"]`);
    assert.equal(await row.locator('[data-status]').textContent(), 'completed');
    assert.deepEqual(await row.locator('[data-step]').allTextContents(), [
      'questionnaire: acknowledged',
      'answer: acknowledged',
      'certificate: acknowledged',
      'approval: acknowledged',
    ]);

    // consent with third-party disclosure, forward, revoke, forward refused
    await s.selectOption('#data-to', buyer.did);
    await s.fill('#data-label', 'energy use');
    await s.fill('#data-payload', '{"site":"Lyon-3","monthlyKWh":[410,380,520]}');
    await submit(s, '#send-data button');
    await s.selectOption('#consent-to', buyer.did);
    await s.fill('#consent-purpose', 'supplier audit');
    await s.check('#consent-third');
    await s.fill('#consent-parties', auditor.did);
    await submit(s, '#send-consent button');
    assert.equal(await notice(s), 'Consent signed and granted.');

    await b.reload();
    for (const kind of ['data', 'consent.grant']) await submit(b, `tr[data-kind="${kind}"] button[name="ack"]`);
    const forward = async () => {
      await b.selectOption('#forward-original', { label: `energy use from ${supplier.name}` });
      await b.selectOption('#forward-consent', { index: 1 });
      await b.selectOption('#forward-to', auditor.did);
      await submit(b, '#send-forward button');
    };
    await forward();
    assert.equal(await notice(b), 'Data forwarded under consent.');

    await s.reload();
    await submit(s, '#consents tr[data-consent] button');
    assert.equal(await notice(s), 'Consent revoked.');
    await b.reload();
    await forward();
    assert.match((await error(b)) ?? '', /^ERR_EXCHANGE_CONSENT_REVOKED: /);

    // the trail, anchored on chain, verifies; the page says so
    const anchored = await fx.service.anchorTrail();
    assert.ok(anchored.ok);
    await b.reload();
    assert.match(
      (await b.locator('#trail-status').textContent()) ?? '',
      new RegExp(
        `^Trail verified: ${anchored.value.seq} entries, .*anchored on chain up to entry ${anchored.value.seq}\\.`,
      ),
    );
    const verified = await fx.service.verifyTrail({ checkAnchor: true });
    assert.ok(verified.ok);
    const done = await fx.service.process(processId, buyer.did);
    assert.ok(done.ok && done.value.status === 'completed');
    mkdirSync(join(process.cwd(), 'test-results'), { recursive: true });
    await b.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(statSync(SCREENSHOT).size > 10_000);
  });
});
