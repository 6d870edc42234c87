/**
 * Two verifier replicas behind one load balancer: each its own router, both sharing the real Redis for
 * nonces and request bindings, and the same token key. A request issued by one is answered at the other; a replay at
 * either is refused; a token from one opens a route guarded by the other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Bitstring, statusListEntry } from '@tessera/protocol';
import { httpError } from '@tessera/runtime/http';
import { createVerifiableCredentialJwt } from 'did-jwt-vc';
import express from 'express';
import { Redis } from 'ioredis';
import { parsePolicySet } from '@tessera/protocol';
import { createVerifier, type Verifier } from '../core.js';
import { RedisNonceStore } from '../vc/nonce-store.js';
import {
  presentTestCredentials,
  publishTestStatusList,
  type TestChain,
  startTestChain,
  testActor,
} from '../vc/testing.js';
import { parseTrustList } from '../vc/trust.js';

const LIST = 'https://issuer.tessera.test/status-lists/1/revocation';
const ORDERS = '/energy/meters/DE0001/orders';
const verifierActor = testActor();
const certifier = testActor();
const alice = testActor();
let tc: TestChain;
const redis: Redis[] = [];
const cores: Verifier[] = [];
const servers: Server[] = [];
const bases: string[] = [];

before(async () => {
  tc = await startTestChain();
  const url = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `tessera:test:${randomBytes(6).toString('hex')}:`;
  const trust = parseTrustList({ EnergyProsumerCredential: [certifier.did] });
  assert.ok(trust.ok);
  const policies = parsePolicySet({
    version: 1,
    policies: [
      {
        id: 'energy.order.place',
        resource: '/energy/meters/:meterId/orders',
        actions: ['POST'],
        require: [
          { credentialType: 'EnergyProsumerCredential', claims: [{ claim: 'meterId', equalsParam: 'meterId' }] },
        ],
      },
    ],
  });
  assert.ok(policies.ok);
  for (let i = 0; i < 2; i++) {
    const r = new Redis(url, { maxRetriesPerRequest: 1 });
    redis.push(r);
    const core = createVerifier(
      {
        did: verifierActor.did,
        privateKey: verifierActor.wallet.privateKey,
        policies: policies.value,
        trust: trust.value,
      },
      {
        resolver: tc.resolver,
        nonces: new RedisNonceStore(r, { prefix: `${prefix}n:` }),
        fetchStatusList: () => publishTestStatusList(certifier, LIST, 'revocation', Bitstring.create()),
      },
    );
    await core.onStatusChange([LIST]);
    cores.push(core);
    const app = express();
    app.use('/verifier', core.router);
    app.post(
      '/energy/meters/:meterId/orders',
      core.guard({ resource: '/energy/meters/:meterId/orders' }),
      (req, res) => {
        res.status(201).json({ holder: req.accessGrant?.holder });
      },
    );
    app.use(((e, _req, res, _next) => {
      const m = httpError(e);
      res.status(m.status).json(m.body);
    }) as express.ErrorRequestHandler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers.push(server);
    bases.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
});

after(async () => {
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  for (const c of cores) await c.stop();
  for (const r of redis) r.disconnect();
  await tc?.close();
});

async function post(base: string, path: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}

describe('verifier HTTP replicas sharing Redis', () => {
  it('answers at one replica a request issued by the other, once, and the token works at either', async () => {
    const now = Math.floor(Date.now() / 1000);
    const vc = await createVerifiableCredentialJwt(
      {
        sub: alice.did,
        nbf: now - 60,
        exp: now + 3600,
        vc: {
          '@context': ['https://www.w3.org/2018/credentials/v1'],
          type: ['VerifiableCredential', 'EnergyProsumerCredential'],
          credentialSubject: { meterId: 'DE0001', role: 'consumer' },
          credentialStatus: statusListEntry(LIST, 3, 'revocation'),
        } as never,
      },
      { did: certifier.did, signer: certifier.signer, alg: 'ES256K' },
    );
    const [a, b] = bases as [string, string];
    const req = await post(a, '/verifier/presentation-requests', { resource: ORDERS, action: 'POST' });
    assert.equal(req.status, 201);
    const vp = await presentTestCredentials(alice, [vc], req.body as { nonce: string; audience: string });
    const granted = await post(b, '/verifier/presentations', { vp });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    for (const base of [a, b]) {
      const replay = await post(base, '/verifier/presentations', { vp });
      assert.equal(replay.body.error?.code, 'ERR_VP_NONCE');
    }
    const token = granted.body.access_token as string;
    assert.equal((await post(a, ORDERS, {}, token)).status, 201);
    assert.equal((await post(b, ORDERS, {}, token)).status, 201);
  });
});
