/**
 * OpenID4VP across two verifier replicas sharing Redis (DESIGN §3): a request created at one replica has its signed
 * object fetched, its encrypted response answered and its result collected at the other; a second response is refused
 * on both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Bitstring, parsePolicySet } from '@tessera/protocol';
import { encryptJwe } from '@tessera/runtime';
import { Redis } from 'ioredis';
import { createVerifier, type Verifier } from '../core.js';
import { RedisNonceStore } from '../vc/nonce-store.js';
import {
  issueTestCredential,
  presentTestCredentials,
  publishTestStatusList,
  type TestChain,
  startTestChain,
  testActor,
} from '../vc/testing.js';
import { parseTrustList } from '../vc/trust.js';

const LIST = 'https://issuer.tessera.test/status-lists/1/revocation';
const verifierActor = testActor();
const certifier = testActor();
const alice = testActor();
let tc: TestChain;
const redis: Redis[] = [];
const cores: Verifier[] = [];

before(async () => {
  tc = await startTestChain();
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
    const r = new Redis(process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    redis.push(r);
    const core = createVerifier(
      {
        did: verifierActor.did,
        privateKey: verifierActor.wallet.privateKey,
        // Both replicas behind one public URL (a load balancer).
        publicUrl: 'https://verifier.tessera.test/verifier',
        policies: policies.value,
        trust: trust.value,
      },
      {
        resolver: tc.resolver,
        nonces: new RedisNonceStore(r, { prefix: `${prefix}n:` }),
        fetchStatusList: () => publishTestStatusList(certifier, LIST, 'revocation', Bitstring.create()),
        signatureWorker: false,
      },
    );
    await core.onStatusChange([LIST]);
    cores.push(core);
  }
});

after(async () => {
  for (const c of cores) await c.stop();
  for (const r of redis) r.disconnect();
  await tc?.close();
});

describe('OpenID4VP on two replicas sharing Redis', () => {
  it('creates at one replica, answers (direct_post.jwt) and collects at the other, once', async () => {
    const [a, b] = cores as [Verifier, Verifier];
    const created = await a.oid4vp!.createRequest({
      resource: '/energy/meters/DE0001/orders',
      action: 'POST',
      responseMode: 'direct_post.jwt',
      flow: 'cross-device',
    });
    assert.ok(created.ok, JSON.stringify(created));
    const object = await b.oid4vp!.requestObject(created.value.id);
    assert.ok(object.ok);
    assert.equal((await a.oid4vp!.requestObject(created.value.id)).ok, false, 'the request object is fetched once');
    const req = JSON.parse(Buffer.from(object.value.split('.')[1]!, 'base64url').toString()) as {
      nonce: string;
      state: string;
      client_id: string;
      client_metadata: { jwks: { keys: Record<string, unknown>[] } };
    };
    const vc = await issueTestCredential({
      issuer: certifier,
      subject: alice,
      type: 'EnergyProsumerCredential',
      claims: { meterId: 'DE0001', role: 'consumer' },
      statusList: LIST,
      index: 3,
    });
    const vp = await presentTestCredentials(alice, [vc], { nonce: req.nonce, audience: req.client_id });
    const response = encryptJwe(
      JSON.stringify({ vp_token: { req0_jwt: [vp] }, state: req.state }),
      req.client_metadata.jwks.keys[0]!,
    );
    assert.equal(await a.oid4vp!.result(created.value.id, created.value.transaction_secret), undefined, 'pending');
    const answered = await b.oid4vp!.respond(created.value.id, { response });
    assert.ok(answered.ok, JSON.stringify(answered));
    const again = await a.oid4vp!.respond(created.value.id, { response });
    assert.equal(again.ok ? 'ok' : again.error.code, 'ERR_OID4VP_REQUEST_UNKNOWN');
    const result = await a.oid4vp!.result(created.value.id, created.value.transaction_secret);
    assert.ok(result?.ok, JSON.stringify(result));
    assert.equal(result.value.grant.holder, alice.did);
    assert.ok((await b.authorize(result.value.token, '/energy/meters/DE0001/orders', 'POST')).ok);
    assert.equal(
      await b.oid4vp!.result(created.value.id, created.value.transaction_secret),
      undefined,
      'collected once',
    );
  });
});
