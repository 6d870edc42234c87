/**
 * Revocation end to end with the real issuer: its status change events drive the verifier's push hook, so a revocation
 * at the issuer makes the very next presentation (and every token granted on the credential) fail, with no cache to
 * wait for. Real anvil, the issuer core on SQLite, real HTTP.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Logger, silentLogger } from '@tessera/protocol';
import { errorHandler } from '@tessera/runtime/http';
import { createVerifier, DEFAULT_POLICY_FILE, loadPolicyFile, parseTrustList, type Verifier } from '@tessera/verifier';
import { presentTestCredentials, type TestChain, startTestChain, testActor } from '@tessera/verifier/testing';
import express from 'express';
import type { DataSource } from 'typeorm';
import { buildIssuer, type Issuer } from './issuer.js';
import { pushStatusChanges } from './status-push.js';
import { openIssuerDatabase } from './store.js';

const ORDERS = '/energy/meters/DE-MALO-0042/orders';

let tc: TestChain;
let dataDir: string;
let ds: DataSource;
let issuer: Issuer;
let server: Server;
let base: string;
const verifierActor = testActor();
const alice = testActor();
const refreshErrors: string[] = [];
let core: Verifier;
let unfollow: () => void;

before(async () => {
  tc = await startTestChain();
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-verifier-revocation-'));
  ds = await openIssuerDatabase({ sqlitePath: join(dataDir, 'issuer.sqlite') });
  issuer = await buildIssuer(
    { dataDir, publicBaseUrl: 'https://issuer.tessera.test' },
    { dataSource: ds, provider: tc.provider, chainId: tc.chain.chainId, registryAddress: tc.registry },
  );

  const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
  assert.ok(trust.ok);
  const policies = loadPolicyFile(DEFAULT_POLICY_FILE);
  assert.ok(policies.ok, JSON.stringify(!policies.ok && policies.error));
  // Refresh failures reach the log; the test holds them to none.
  const log = {
    ...silentLogger,
    warn: (o: { url?: string; code?: string; reason?: string }) =>
      refreshErrors.push(`${o.url}: ${o.code} ${o.reason}`),
    child: () => log,
  } as unknown as Logger;
  core = createVerifier(
    {
      did: verifierActor.did,
      privateKey: verifierActor.wallet.privateKey,
      policies: policies.value,
      trust: trust.value,
    },
    {
      resolver: tc.resolver,
      // The issuer's published list, as its GET /status-lists/:id/:purpose serves it, over a slow network: the
      // refresh is still running when the next presentation arrives, which must wait for it rather than race it.
      fetchStatusList: async (url) => {
        await delay(50);
        const t = /\/status-lists\/(\d+)\/token$/.exec(url);
        if (t) {
          const r = await issuer.tokenStatusList(Number(t[1]));
          if (!r.ok) throw new Error(r.error.message);
          return r.value.jwt;
        }
        const m = /\/status-lists\/(\d+)\/(revocation|suspension)$/.exec(url);
        if (!m) throw new Error(`not a status list URL: ${url}`);
        const r = await issuer.statusListCredential(Number(m[1]), m[2] as 'revocation' | 'suspension');
        if (!r.ok) throw new Error(r.error.message);
        return r.value.jwt;
      },
      log,
    },
  );

  // The connection the stack makes: every list a new credential uses, and every list a status change flips.
  unfollow = await pushStatusChanges(issuer, core);

  const app = express();
  app.use('/verifier', core.router);
  app.post(
    ORDERS.replace('DE-MALO-0042', ':meterId'),
    core.guard({ resource: '/energy/meters/:meterId/orders' }),
    (req, res) => {
      res.status(201).json({ holder: req.accessGrant?.holder });
    },
  );
  app.use(errorHandler(silentLogger, 'test'));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  unfollow?.();
  await core?.stop();
  if (ds?.isInitialized) await ds.destroy();
  await tc?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { access_token?: string; error?: { code: string } } };
}

/** Ask for a request and answer it with `jwt` (not submitted yet). */
async function answer(jwt: string): Promise<string> {
  const req = await post('/verifier/presentation-requests', { resource: ORDERS, action: 'POST' });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const { nonce, audience } = req.body as unknown as { nonce: string; audience: string };
  return presentTestCredentials(alice, [jwt], { nonce, audience });
}

/** Ask for a request, answer it with `jwt`, submit it. */
async function presentOnce(jwt: string) {
  return post('/verifier/presentations', { vp: await answer(jwt) });
}

describe('verifier HTTP with the real issuer: revocation reaches the next presentation', () => {
  it('accepts, then refuses with ERR_VC_REVOKED right after the issuer revokes, tokens included', async () => {
    const issued = await issuer.issue({
      type: 'EnergyProsumerCredential',
      subject: alice.did,
      claims: { meterId: 'DE-MALO-0042', role: 'prosumer', nameplateKw: 6 },
    });
    assert.ok(issued.ok, JSON.stringify(!issued.ok && issued.error));

    const first = await presentOnce(issued.value.jwt);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const token = first.body.access_token!;
    assert.equal((await post(ORDERS, { kWh: 1 }, token)).status, 201);

    // Ready before the revocation and submitted the moment it returns: no waiting, no refresh call, the event alone
    // must make this presentation fail (it waits for the refresh the event started, not for any cache).
    const ready = await answer(issued.value.jwt);
    const revoked = await issuer.revoke(issued.value.id, { actor: 'operator', reason: 'test' });
    assert.ok(revoked.ok && revoked.value.changed);
    const next = await post('/verifier/presentations', { vp: ready });
    assert.equal(next.status, 401);
    assert.equal(next.body.error?.code, 'ERR_VC_REVOKED');
    const order = await post(ORDERS, { kWh: 1 }, token);
    assert.equal(order.status, 401);
    assert.equal(order.body.error?.code, 'ERR_VC_REVOKED');
    assert.deepEqual(refreshErrors, []);
  });

  it('refuses a suspended credential and accepts it again once resumed', async () => {
    const issued = await issuer.issue({
      type: 'EnergyProsumerCredential',
      subject: alice.did,
      claims: { meterId: 'DE-MALO-0042', role: 'consumer' },
    });
    assert.ok(issued.ok);
    assert.equal((await presentOnce(issued.value.jwt)).status, 200);
    assert.ok((await issuer.suspend(issued.value.id)).ok);
    assert.equal((await presentOnce(issued.value.jwt)).body.error?.code, 'ERR_VC_SUSPENDED');
    assert.ok((await issuer.resume(issued.value.id)).ok);
    const again = await presentOnce(issued.value.jwt);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(refreshErrors, []);
  });
});
