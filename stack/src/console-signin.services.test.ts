/**
 * Signing in to the console with a wallet on another device, in a real browser (Debian's chromium driven by
 * playwright-core) against a whole stack started as `npm start` starts it: the sign-in page shows a cross-device
 * OpenID4VP request (QR code, link, CLI command); the CLI wallet (`wallet/src/cli.ts` as a child process, its own wallet
 * directory) answers it; the page becomes signed in with the wallet's role. A wallet holding no role credential does
 * not answer (the CLI's code); a wallet whose role credential was revoked answers and the page shows the verifier's
 * refusal with its code. The page is checked with axe-core and under the console's CSP; screenshots land in
 * test-results/console/.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@tessera/protocol';
import { answerOpenid4vp, issuerRequest, loginWithCredentials, readHolderFile, TesseraWallet } from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { Wallet } from 'ethers';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { loadConfig } from './config.js';
import { type RunningStack, startStack } from './stack.js';

// biome-ignore lint/suspicious/noExplicitAny: globals of the page, not of Node
declare const document: any;

const CHROMIUM = '/usr/bin/chromium';
const OUT = join(process.cwd(), 'test-results', 'console');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WALLET_PASSPHRASE = 'cli wallet passphrase';
const PASSPHRASE = 'correct horse battery staple';

let dir: string;
let stack: RunningStack;
let base: string;
let issuerUrl: string;
let adminToken: string;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];

async function browser(): Promise<Page> {
  const profile = mkdtempSync(join(dir, 'chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  return page;
}

async function axe(page: Page, name: string): Promise<void> {
  await page.evaluate(AXE);
  const result = (await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is injected above
    const r = await (globalThis as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: { id: string; impact: string }) => ({ id: v.id, impact: v.impact }));
  })) as { id: string; impact: string }[];
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `axe on ${name}: ${JSON.stringify(serious)}`);
}

/** A CLI wallet in its own directory (key sealed by passphrase) holding credentials of `types`, issued by the admin. */
async function cliWallet(name: string, issue: { type: string; claims: Record<string, unknown> }[]) {
  const walletDir = join(dir, `wallet-${name}`);
  const w = TesseraWallet.init(walletDir, { chainId: stack.chainId, passphrase: WALLET_PASSPHRASE });
  assert.ok(w.ok, JSON.stringify(w));
  const ids: string[] = [];
  for (const c of issue) {
    const r = await issuerRequest(issuerUrl, 'POST', '/credentials', {
      token: adminToken,
      body: { type: c.type, subject: w.value.did, claims: c.claims },
    });
    assert.equal(r.status, 201, r.text);
    const added = w.value.addCredential(r.json.jwt);
    assert.ok(added.ok, JSON.stringify(added));
    ids.push(r.json.id);
  }
  return { dir: walletDir, did: w.value.did, ids };
}

/** `npm run wallet -- present --request <uri> --yes` as a child process: its exit code, stdout and stderr. */
function cliPresent(walletDir: string, request: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'wallet/src/cli.ts', '--dir', walletDir, 'present', '--request', request, '--yes'],
      {
        env: { ...process.env, TESSERA_URL: base, TESSERA_WALLET_PASSPHRASE: WALLET_PASSPHRASE },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Show a new cross-device request on the sign-in page; its link. */
async function showRequest(page: Page): Promise<string> {
  await page.locator('#cross-device-start').click();
  await page.locator('#cross-device-request img').waitFor();
  const link = await page.locator('#cross-device-link').inputValue();
  assert.match(link, /^openid4vp:\/\/\?client_id=decentralized_identifier%3Adid%3Aethr%3A.+&request_uri=http/);
  assert.match(await page.locator('#cross-device-command').inputValue(), /wallet -- present --request 'openid4vp:/);
  return link;
}

/** A browser wallet: a wallet file holding `credentials` of a fresh key, imported under the test passphrase. */
async function browserWallet(name: string, issue: { type: string; claims: Record<string, unknown> }[]) {
  const key = Wallet.createRandom();
  const did = `did:ethr:0x${stack.chainId.toString(16)}:${key.address.toLowerCase()}`;
  const credentials: string[] = [];
  for (const c of issue) {
    const r = await issuerRequest(issuerUrl, 'POST', '/credentials', {
      token: adminToken,
      body: { type: c.type, subject: did, claims: c.claims },
    });
    assert.equal(r.status, 201, r.text);
    credentials.push(r.json.jwt);
  }
  const file = join(dir, `${name}-wallet.json`);
  writeFileSync(file, JSON.stringify({ did, privateKey: key.privateKey, credentials }));
  const page = await browser();
  await page.goto(`${base}/#/wallet`);
  await page.setInputFiles('#wallet-file', file);
  await page.fill('#import-passphrase', PASSPHRASE);
  await page.fill('#import-passphrase-again', PASSPHRASE);
  await page.click('#import-wallet button[type=submit]');
  await page.locator('#lock').waitFor();
  return { page, did };
}

before(async () => {
  statSync(CHROMIUM);
  mkdirSync(OUT, { recursive: true });
  execFileSync(process.execPath, ['scripts/build-console.mjs', '--if-stale'], { stdio: 'ignore' });
  dir = mkdtempSync(join(tmpdir(), 'tessera-console-signin-'));
  const config = loadConfig({
    TESSERA_DATA_DIR: join(dir, 'stack'),
    TESSERA_HTTP_PORT: '0',
    TESSERA_MQTT_PORT: '0',
  });
  stack = await startStack(config, { log: silentLogger });
  base = stack.urls.http;
  issuerUrl = `${base}/issuer`;
  adminToken = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));
});

after(async () => {
  for (const c of contexts) await c.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('console sign-in with the CLI wallet (cross-device OpenID4VP)', () => {
  it('the page shows a request; the CLI wallet answers it; the page is signed in with its role', async () => {
    const admin = await cliWallet('admin', [{ type: 'AdminCredential', claims: { name: 'Second admin' } }]);
    const page = await browser();
    await page.goto(`${base}/`);
    const link = await showRequest(page);
    await axe(page, 'sign-in-cross-device');
    await page.screenshot({ path: join(OUT, 'sign-in-cross-device.png'), fullPage: true });

    const r = await cliPresent(admin.dir, link);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /asks, answering to http/);
    assert.match(r.stderr, /for \* \/issuer\/\*\*/);
    assert.match(r.stderr, /AdminCredential/);
    assert.match(r.stderr, /the device that showed the request receives the session/);
    assert.equal(r.stdout.trim(), '', 'no token printed: the session is the browser’s');

    await page.locator('#me').waitFor({ timeout: 10_000 });
    assert.match((await page.locator('#me').textContent()) ?? '', /AdminCredential/);
    assert.equal(await page.locator('#me').getAttribute('title'), admin.did);
    // the policy opens the admin's pages: the credentials page lists through the session's token
    await page.locator('nav a[href="#/credentials"]').click();
    await page.locator('#issue').waitFor();
    await axe(page, 'credentials-after-cross-device');
    assert.deepEqual(cspViolations, []);

    // the sign-in is in the issuer's audit trail, as one through POST /auth/token is
    const audit = await issuerRequest(issuerUrl, 'GET', '/audit?limit=1000', { token: adminToken });
    assert.equal(audit.status, 200, audit.text);
    const entries = (audit.json.items as { what: string; who: string; details: Record<string, unknown> }[]).filter(
      (e) => e.what === 'auth.token' && e.details.holder === admin.did,
    );
    assert.equal(entries.length, 1, JSON.stringify(entries));
    assert.deepEqual(entries[0]!.details, { holder: admin.did, roles: ['AdminCredential'], via: 'openid4vp' });
    assert.equal(entries[0]!.who, admin.did);
  });

  it('a wallet without a role credential does not answer; one whose role credential is revoked is refused with its code', async () => {
    const page = await browser();
    await page.goto(`${base}/`);

    // no role credential: the CLI wallet finds nothing that meets the request and says so; the page keeps waiting
    const none = await cliWallet('none', [
      { type: 'EnergyProsumerCredential', claims: { meterId: 'DE000CONSOLE1', role: 'consumer' } },
    ]);
    const first = await showRequest(page);
    const n = await cliPresent(none.dir, first);
    assert.equal(n.code, 1, n.stderr);
    assert.match(n.stderr, /error ERR_WALLET_NO_MATCHING_CREDENTIAL/);
    assert.equal(await page.locator('#me').count(), 0);
    await page.locator('#cross-device-waiting').waitFor();

    // a revoked AdminCredential: the wallet answers, the verifier refuses, the page shows the code
    const revoked = await cliWallet('revoked', [{ type: 'AdminCredential', claims: { name: 'Former admin' } }]);
    const operator = Wallet.createRandom();
    const op = await issuerRequest(issuerUrl, 'POST', '/credentials', {
      token: adminToken,
      body: {
        type: 'OperatorCredential',
        subject: `did:ethr:0x${stack.chainId.toString(16)}:${operator.address.toLowerCase()}`,
        claims: { name: 'Grid operations' },
      },
    });
    assert.equal(op.status, 201, op.text);
    const operatorToken = await loginWithCredentials(issuerUrl, {
      did: op.json.subject,
      privateKey: operator.privateKey,
      credentials: [op.json.jwt],
    });
    const rv = await issuerRequest(issuerUrl, 'POST', `/credentials/${revoked.ids[0]}/revoke`, {
      token: operatorToken,
      body: { reason: 'left the organisation' },
    });
    assert.equal(rv.status, 200, rv.text);

    await page.getByRole('button', { name: 'Cancel' }).click();
    const second = await showRequest(page);
    const v = await cliPresent(revoked.dir, second);
    assert.equal(v.code, 1, v.stderr);
    assert.match(v.stderr, /error ERR_VC_REVOKED/);
    await page.locator('#cross-device .error[data-code="ERR_VC_REVOKED"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#me').count(), 0);
    await axe(page, 'sign-in-cross-device-refused');
    await page.screenshot({ path: join(OUT, 'sign-in-cross-device-refused.png'), fullPage: true });
  });

  it('the wallet answers only requests kept at the verifier it addresses', async () => {
    const admin = await cliWallet('checks', [{ type: 'AdminCredential', claims: { name: 'Careful admin' } }]);
    const opened = TesseraWallet.open(admin.dir, { passphrase: WALLET_PASSPHRASE });
    assert.ok(opened.ok);
    const elsewhere = `openid4vp://?client_id=x&request_uri=${encodeURIComponent('http://127.0.0.66:9/verifier/oid4vp/requests/a/object')}`;
    const r = await answerOpenid4vp(opened.value, `${base}/verifier`, elsewhere);
    assert.equal(r.ok ? 'ok' : r.error.code, 'ERR_OID4VP_VERIFIER_MISMATCH');
    const junk = await answerOpenid4vp(opened.value, `${base}/verifier`, 'javascript:alert(1)');
    assert.equal(junk.ok ? 'ok' : junk.error.code, 'ERR_OID4VP_REQUEST_SIGNATURE');
  });

  it('the browser wallet answers a pasted request: who asks (its signature checked), for what, consent', async () => {
    const verifierDid = String(
      ((await (await fetch(`${base}/verifier/.well-known/openid4vp-verifier`)).json()) as { audience: string })
        .audience,
    );
    const shower = await browser();
    await shower.goto(`${base}/`);
    const { page: wallet } = await browserWallet('answering', [
      { type: 'AdminCredential', claims: { name: 'Browser admin' } },
    ]);
    await wallet.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#/wallet';
    });
    await wallet.locator('#present-request').waitFor();

    // declined: nothing is sent, the other page keeps waiting
    const declined = await showRequest(shower);
    await wallet.fill('#request-text', declined);
    await wallet.click('#present-request button[type=submit]');
    await wallet.locator('#consent').waitFor();
    assert.equal(await wallet.locator('#consent').getAttribute('data-verifier'), verifierDid);
    assert.equal(await wallet.locator('#consent-scope').textContent(), '* /issuer/**');
    assert.match((await wallet.locator('#consent-asks').textContent()) ?? '', /AdminCredential/);
    await axe(wallet, 'wallet-consent');
    await wallet.screenshot({ path: join(OUT, 'wallet-consent.png'), fullPage: true });
    await wallet.click('#consent-decline');
    await wallet.locator('#present .notice', { hasText: 'Declined' }).waitFor();
    assert.equal(await shower.locator('#me').count(), 0);
    await shower.getByRole('button', { name: 'Cancel' }).click();

    // a request object not signed by the verifier's key (a forgery naming its DID) is refused before anything is shown
    const forger = Wallet.createRandom();
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ alg: 'ES256K', typ: 'oauth-authz-req+jwt', kid: `${verifierDid}#controller` })}.${b64({
      client_id: `decentralized_identifier:${verifierDid}`,
      response_uri: `${base}/verifier/oid4vp/response/x`,
      exp: Math.floor(Date.now() / 1000) + 60,
    })}`;
    const forged = `${input}.${await ES256KSigner(hexToBytes(forger.privateKey))(input)}`;
    await wallet.route('**/verifier/oid4vp/requests/*/object', (route) =>
      route.fulfill({ status: 200, contentType: 'application/oauth-authz-req+jwt', body: forged }),
    );
    await wallet.fill('#request-text', await showRequest(shower));
    await wallet.click('#present-request button[type=submit]');
    await wallet.locator('#present .error[data-code="ERR_OID4VP_REQUEST_SIGNATURE"]').waitFor();
    await wallet.unroute('**/verifier/oid4vp/requests/*/object');
    await shower.getByRole('button', { name: 'Cancel' }).click();

    // answered: the page that showed the request is signed in as the browser wallet's holder
    const link = await showRequest(shower);
    await wallet.fill('#request-text', link);
    await wallet.click('#present-request button[type=submit]');
    await wallet.locator('#consent').waitFor();
    await wallet.click('#consent-answer');
    await wallet
      .locator('#present .notice', { hasText: 'the device that showed the request receives the session' })
      .waitFor();
    await shower.locator('#me').waitFor({ timeout: 10_000 });
    assert.match((await shower.locator('#me').textContent()) ?? '', /AdminCredential/);
  });

  it('the browser wallet receives an offer with a transaction code; a wrong code is refused with its code and does not spend it', async () => {
    const { page, did } = await browserWallet('tx', []);
    const issued = await issuerRequest(issuerUrl, 'POST', '/credentials', {
      token: adminToken,
      body: { type: 'OperatorCredential', subject: did, claims: { name: 'Night shift' } },
    });
    assert.equal(issued.status, 201, issued.text);
    const offered = await issuerRequest(issuerUrl, 'POST', `/credentials/${issued.json.id}/offer`, {
      token: adminToken,
      body: { txCode: true },
    });
    assert.equal(offered.status, 201, offered.text);
    const txCode = String(offered.json.txCode);
    assert.match(txCode, /^\d{6}$/);
    const wrong = txCode === '000000' ? '111111' : '000000';

    await page.locator('#receive-offer').waitFor();
    await page.fill('#offer-text', offered.json.offer_uri_by_reference);
    await page.click('#receive-offer button[type=submit]');
    await page.locator('#tx-code').waitFor();
    await page.fill('#tx-code', wrong);
    await page.click('#tx-code-form button[type=submit]');
    await page.locator('#receive .error[data-code="ERR_OID4VCI_TX_CODE"]').waitFor();
    assert.match((await page.locator('#receive .error').textContent()) ?? '', /wrong/);
    await axe(page, 'wallet-tx-code');
    await page.screenshot({ path: join(OUT, 'wallet-tx-code.png'), fullPage: true });

    // the same offer, the right code: received (the wrong one did not spend it)
    await page.fill('#tx-code', txCode);
    await page.click('#tx-code-form button[type=submit]');
    await page.locator('#receive .notice', { hasText: 'OperatorCredential' }).waitFor();
    const row = page.locator('#wallet-credentials tr[data-type="OperatorCredential"]');
    await row.waitFor();
    await row.locator('[data-status]', { hasText: 'valid' }).waitFor();
    assert.equal(await page.locator('#tx-code').count(), 0);
  });
});
