/**
 * The wallet flows end to end through real HTTP against the whole stack (embedded anvil, SQLite, the issuer at
 * /issuer, the verifier at /verifier), with the reference wallet library on the holder's side:
 * admin login with the root admin wallet → issuance → one-time offer → the holder receives it → presentation request
 * → VP → access token → a guarded route; replay, another meter, revoke, suspend and resume refused with their codes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@tessera/protocol';
import { httpError } from '@tessera/runtime/http';
import {
  buildPresentation,
  callGated,
  httpJson,
  loginWithCredentials,
  readHolderFile,
  present,
  publishedStatus,
  receiveOffer,
  requestPresentation,
  submitPresentation,
  TesseraWallet,
} from '@tessera/wallet';
import express from 'express';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const M = 'DE-MALO-4711';
const N = 'DE-MALO-4712';
const ordersOf = (meter: string) => `/energy/meters/${meter}/orders`;

let dataDir: string;
let stack: RunningStack;
let issuerUrl: string;
let verifierUrl: string;
let guarded: Server;
let guardedUrl: string;
let wallet: TesseraWallet;

async function asAdmin<T>(token: string, path: string, body?: unknown) {
  const r = await httpJson<T>(`${issuerUrl}${path}`, { method: 'POST', token, body: body ?? {} });
  assert.ok(r.ok, `${path}: ${JSON.stringify(r)}`);
  return r.value.body;
}

/** The code of a refused Result, with its HTTP status. */
function refusal(r: { ok: boolean; error?: { code: string; details?: unknown } }) {
  assert.equal(r.ok, false, 'expected a refusal');
  return { code: r.error!.code, status: (r.error!.details as { status?: number } | undefined)?.status };
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-wallet-'));
  const config = loadConfig({
    TESSERA_DATA_DIR: join(dataDir, 'stack'),
    TESSERA_HTTP_PORT: '0',
    TESSERA_MQTT_PORT: '0',
    TESSERA_LOG_LEVEL: 'silent',
  });
  stack = await startStack(config, { log: silentLogger });
  issuerUrl = `${stack.urls.http}/issuer`;
  verifierUrl = `${stack.urls.http}/verifier`;

  // A service of our own behind the stack's verifier guard, in another express app (as a service in the stack would).
  const app = express();
  app.use(express.json());
  app.post(
    '/energy/meters/:meterId/orders',
    stack.verifier.core.guard({ resource: '/energy/meters/:meterId/orders' }),
    (req, res) => {
      res.status(201).json({ meterId: req.params.meterId, holder: req.accessGrant?.holder, order: req.body });
    },
  );
  app.use(((e, _req, res, _next) => {
    const m = httpError(e);
    res.status(m.status).json(m.body);
  }) as express.ErrorRequestHandler);
  guarded = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => guarded.once('listening', resolve));
  guardedUrl = `http://127.0.0.1:${(guarded.address() as AddressInfo).port}`;

  const created = TesseraWallet.init(join(dataDir, 'holder-wallet'), { chainId: stack.chainId });
  assert.ok(created.ok, JSON.stringify(created));
  wallet = created.value;
});

after(async () => {
  await new Promise((resolve) => guarded?.close(resolve));
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
});

describe('wallet flows through the stack', () => {
  let adminToken: string;
  let operatorToken: string;
  let credentialId: string;
  let accessToken: string;

  it('an admin logs in with the root admin wallet and issues an EnergyProsumerCredential for meter M to the holder', async () => {
    const admin = readHolderFile(stack.issuer.rootAdmin.file);
    adminToken = await loginWithCredentials(issuerUrl, admin);
    const vc = await asAdmin<{ id: string }>(adminToken, '/credentials', {
      type: 'EnergyProsumerCredential',
      subject: wallet.did,
      claims: { meterId: M, role: 'prosumer', nameplateKw: 7.5 },
    });
    credentialId = vc.id;

    // Admins issue, operators revoke: the root admin gives itself an OperatorCredential and logs in again.
    const op = await asAdmin<{ jwt: string }>(adminToken, '/credentials', {
      type: 'OperatorCredential',
      subject: admin.did,
      claims: { name: 'e2e operator' },
    });
    operatorToken = await loginWithCredentials(issuerUrl, { ...admin, credentials: [...admin.credentials, op.jwt] });
  });

  it('the holder receives it through a one-time offer, once', async () => {
    const offer = await asAdmin<{ code: string; redeemUrl: string }>(adminToken, `/credentials/${credentialId}/offer`);
    const url = `${offer.redeemUrl}?code=${offer.code}`;
    const received = await receiveOffer(wallet, url);
    assert.ok(received.ok, JSON.stringify(received));
    assert.equal(received.value.type, 'EnergyProsumerCredential');
    assert.equal(received.value.claims.meterId, M);
    assert.equal(received.value.issuer, stack.identities.issuer.did);

    // Kept on disk: a fresh open of the wallet sees it.
    const reopened = TesseraWallet.open(wallet.dir);
    assert.ok(reopened.ok);
    assert.deepEqual(
      reopened.value.credentials.map((c) => c.id),
      [received.value.id],
    );
    assert.equal(await publishedStatus(received.value), 'active');

    assert.deepEqual(refusal(await receiveOffer(wallet, url)), { code: 'ERR_AUTH_REPLAYED', status: 401 });
    assert.equal(refusal(await receiveOffer(wallet, `${issuerUrl}/offers/redeem`)).code, 'ERR_WALLET_OFFER_MALFORMED');
  });

  it('answers a presentation request for POST /energy/meters/M/orders and the guarded route accepts the token', async () => {
    const granted = await present(wallet, verifierUrl, { resource: ordersOf(M), action: 'POST' });
    assert.ok(granted.ok, JSON.stringify(granted));
    assert.equal(granted.value.holder, wallet.did);
    assert.deepEqual(granted.value.scopes, [{ resource: ordersOf(M), action: 'POST' }]);
    accessToken = granted.value.access_token;

    const order = await callGated(wallet, `${guardedUrl}${ordersOf(M)}`, { data: { side: 'sell', kWh: 2 } });
    assert.ok(order.ok, JSON.stringify(order));
    assert.equal(order.value.status, 201);
    assert.deepEqual(order.value.body, { meterId: M, holder: wallet.did, order: { side: 'sell', kWh: 2 } });

    // Without a token the route is closed.
    const bare = await httpJson(`${guardedUrl}${ordersOf(M)}`, { body: { kWh: 1 } });
    assert.deepEqual(refusal(bare), { code: 'ERR_AUTH_REQUIRED', status: 401 });
  });

  it('refuses a replayed presentation with ERR_VP_NONCE', async () => {
    const request = await requestPresentation(verifierUrl, { resource: ordersOf(M), action: 'POST' });
    assert.ok(request.ok);
    const built = await buildPresentation(wallet, request.value);
    assert.ok(built.ok);
    const first = await submitPresentation(verifierUrl, built.value.vp);
    assert.ok(first.ok, JSON.stringify(first));
    assert.deepEqual(refusal(await submitPresentation(verifierUrl, built.value.vp)), {
      code: 'ERR_VP_NONCE',
      status: 401,
    });
  });

  it('a token for meter M does not open meter N, and the M credential does not win a request for N', async () => {
    const other = await callGated(wallet, `${guardedUrl}${ordersOf(N)}`, { data: { kWh: 1 }, token: accessToken });
    assert.deepEqual(refusal(other), { code: 'ERR_FORBIDDEN', status: 403 });
    // The wallet holds nothing for N and says so instead of disclosing the M credential…
    assert.equal(
      refusal(await present(wallet, verifierUrl, { resource: ordersOf(N), action: 'POST' })).code,
      'ERR_WALLET_NO_MATCHING_CREDENTIAL',
    );
    // …and if it is presented anyway, the verifier's policy refuses it.
    const request = await requestPresentation(verifierUrl, { resource: ordersOf(N), action: 'POST' });
    assert.ok(request.ok);
    const forced = await buildPresentation(wallet, { ...request.value, resource: ordersOf(M) });
    assert.ok(forced.ok);
    assert.deepEqual(refusal(await submitPresentation(verifierUrl, forced.value.vp)), {
      code: 'ERR_POLICY_DENIED',
      status: 403,
    });
  });

  it('suspended: refused with ERR_VC_SUSPENDED; resumed: accepted again', async () => {
    await asAdmin(operatorToken, `/credentials/${credentialId}/suspend`, { reason: 'e2e' });
    assert.deepEqual(refusal(await present(wallet, verifierUrl, { resource: ordersOf(M), action: 'POST' })), {
      code: 'ERR_VC_SUSPENDED',
      status: 401,
    });
    const held = wallet.credentials[0]!;
    assert.equal(await publishedStatus(held), 'suspended');
    await asAdmin(operatorToken, `/credentials/${credentialId}/resume`);
    const again = await present(wallet, verifierUrl, { resource: ordersOf(M), action: 'POST' });
    assert.ok(again.ok, JSON.stringify(again));
    accessToken = again.value.access_token;
    assert.equal(await publishedStatus(held), 'active');
  });

  it('revoked at the issuer: the next presentation and the held token are refused with ERR_VC_REVOKED at once', async () => {
    // Prepared before the revoke and submitted as soon as the issuer answers: nothing waits for a cache.
    const request = await requestPresentation(verifierUrl, { resource: ordersOf(M), action: 'POST' });
    assert.ok(request.ok);
    const ready = await buildPresentation(wallet, request.value);
    assert.ok(ready.ok);
    const revoked = await asAdmin<{ changed: boolean }>(operatorToken, `/credentials/${credentialId}/revoke`, {
      reason: 'e2e',
    });
    assert.equal(revoked.changed, true);
    assert.deepEqual(refusal(await submitPresentation(verifierUrl, ready.value.vp)), {
      code: 'ERR_VC_REVOKED',
      status: 401,
    });
    const order = await callGated(wallet, `${guardedUrl}${ordersOf(M)}`, { data: { kWh: 1 }, token: accessToken });
    assert.deepEqual(refusal(order), { code: 'ERR_VC_REVOKED', status: 401 });
    assert.equal(await publishedStatus(wallet.credentials[0]!), 'revoked');
  });
});

const CLI = fileURLToPath(new URL('../../../wallet/src/cli.ts', import.meta.url));

/** `npm run wallet -- …` as a person runs it, against this stack (TESSERA_URL) and a wallet directory of its own. */
async function wallet$(dir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { TESSERA_WALLET_PASSPHRASE: _p, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env: { ...env, TESSERA_URL: stack.urls.http, TESSERA_WALLET_DIR: dir } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

describe('the wallet CLI through the stack (the README walk-through)', () => {
  const meter = 'DE-MALO-4713';
  let dir: string;
  let adminToken: string;
  let operatorToken: string;

  before(async () => {
    dir = join(dataDir, 'cli-wallet');
    const admin = readHolderFile(stack.issuer.rootAdmin.file);
    adminToken = await loginWithCredentials(issuerUrl, admin);
    const op = await asAdmin<{ jwt: string }>(adminToken, '/credentials', {
      type: 'OperatorCredential',
      subject: admin.did,
      claims: { name: 'cli operator' },
    });
    operatorToken = await loginWithCredentials(issuerUrl, { ...admin, credentials: [...admin.credentials, op.jwt] });
  });

  it('init, did, receive, list, present, call; refusals print their code and exit 1', async () => {
    assert.match((await wallet$(dir, 'did')).err, /^error ERR_WALLET_NOT_FOUND: /m);
    const init = await wallet$(dir, 'init', '--chain-id', String(stack.chainId));
    assert.equal(init.code, 0, init.err);
    const did = init.out.trim();
    assert.match(did, /^did:ethr:0x[0-9a-f]+:0x[0-9a-f]{40}$/);
    assert.equal(statSync(join(dir, 'wallet.json')).mode & 0o777, 0o600);
    assert.equal((await wallet$(dir, 'did')).out.trim(), did);
    assert.match((await wallet$(dir, 'init')).err, /^error ERR_WALLET_EXISTS: /m);

    const vc = await asAdmin<{ id: string }>(adminToken, '/credentials', {
      type: 'EnergyProsumerCredential',
      subject: did,
      claims: { meterId: meter, role: 'consumer' },
    });
    const offer = await asAdmin<{ code: string; redeemUrl: string }>(adminToken, `/credentials/${vc.id}/offer`);
    const bad = await wallet$(dir, 'receive', 'not-an-offer');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^error ERR_WALLET_OFFER_MALFORMED: /m);
    const received = await wallet$(dir, 'receive', JSON.stringify(offer));
    assert.equal(received.code, 0, received.err);
    assert.match(received.out, /received EnergyProsumerCredential/);

    const list = await wallet$(dir, 'list');
    assert.match(list.out, /EnergyProsumerCredential\s+active\s+expires \S+\s+issuer did:ethr:/);

    const present = await wallet$(dir, 'present', '--resource', ordersOf(meter), '--action', 'POST', '--yes');
    assert.equal(present.code, 0, present.err);
    assert.equal(present.out.trim().split('.').length, 3);
    const call = await wallet$(dir, 'call', `${guardedUrl}${ordersOf(meter)}`, '--data', '{"side":"bid","kWh":1}');
    assert.equal(call.code, 0, call.err);
    assert.deepEqual(JSON.parse(call.out), { meterId: meter, holder: did, order: { side: 'bid', kWh: 1 } });
    assert.match(
      (await wallet$(dir, 'call', `${guardedUrl}${ordersOf(M)}`, '--data', '{}')).err,
      /ERR_WALLET_NO_TOKEN/,
    );

    await asAdmin(operatorToken, `/credentials/${vc.id}/revoke`);
    const refused = await wallet$(dir, 'present', '--resource', ordersOf(meter), '--action', 'POST', '--yes');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^error ERR_VC_REVOKED: /m);
    assert.match((await wallet$(dir, 'list')).out, /EnergyProsumerCredential\s+revoked/);
  });
});
