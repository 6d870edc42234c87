import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bitstring } from '@tessera/protocol';
import { Redis } from 'ioredis';
import { RedisNonceStore } from './nonce-store.js';
import { nonceStoreConformance } from './nonce-store.suite.js';
import { InMemoryStatusListProvider } from './status.js';
import { issueTestCredential, presentTestCredentials, startTestChain, type TestChain, testActor } from './testing.js';
import { parseTrustList } from './trust.js';
import { PresentationVerifier } from './verify.js';

// Two replicas: two RedisNonceStore instances on two separate connections to the real Redis on 127.0.0.1:6379.
nonceStoreConformance('Redis, two replicas', async () => {
  const url = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `tessera-test:${process.pid}:${Date.now()}:`;
  const ra = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  const rb = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await Promise.all([ra.connect(), rb.connect()]);
  return {
    a: new RedisNonceStore(ra, { prefix }),
    b: new RedisNonceStore(rb, { prefix }),
    close: async () => {
      const keys = await ra.keys(`${prefix}*`);
      if (keys.length > 0) await ra.del(...keys);
      await Promise.all([ra.quit(), rb.quit()]);
    },
  };
});

describe('presentations across two verifier replicas sharing Redis', () => {
  let chain: TestChain;
  let redis: Redis[] = [];
  const prefix = `tessera-test-vp:${process.pid}:${Date.now()}:`;
  const audience = 'https://verifier.tessera.test';
  const statusList = 'https://issuer.tessera.test/status/1';
  const issuer = testActor();
  const holder = testActor();
  let replicas: PresentationVerifier[];

  before(async () => {
    chain = await startTestChain();
    const url = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    redis = [new Redis(url, { maxRetriesPerRequest: 1 }), new Redis(url, { maxRetriesPerRequest: 1 })];
    const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    assert.ok(trust.ok);
    const lists = new InMemoryStatusListProvider();
    lists.putBits(statusList, 'revocation', Bitstring.create());
    replicas = redis.map(
      (r) =>
        new PresentationVerifier({
          resolver: chain.resolver,
          trust: trust.value,
          statusLists: lists,
          nonces: new RedisNonceStore(r, { prefix }),
          audience,
        }),
    );
  });
  after(async () => {
    const keys = (await redis[0]?.keys(`${prefix}*`)) ?? [];
    if (keys.length > 0) await redis[0]?.del(...keys);
    await Promise.all(redis.map((r) => r.quit()));
    await chain?.close();
  });

  it('a presentation accepted by one replica is refused by the other (and by itself) as a reused nonce', async () => {
    const [a, b] = replicas as [PresentationVerifier, PresentationVerifier];
    const vc = await issueTestCredential({
      issuer,
      subject: holder,
      type: 'EnergyProsumerCredential',
      claims: { meterId: 'DE0001', role: 'consumer' },
      statusList,
      index: 1,
    });
    const request = await a.createRequest(); // the wallet got its request from replica a
    const vp = await presentTestCredentials(holder, [vc], request);
    const first = await b.verifyPresentation(vp); // and its answer lands on replica b
    assert.ok(first.ok, JSON.stringify(first));
    for (const replica of [a, b]) {
      const again = await replica.verifyPresentation(vp);
      assert.ok(!again.ok && again.error.code === 'ERR_VP_NONCE', JSON.stringify(again));
    }
  });

  it('of one presentation sent to both replicas at once, exactly one is accepted', async () => {
    const [a, b] = replicas as [PresentationVerifier, PresentationVerifier];
    for (let i = 0; i < 5; i++) {
      const vc = await issueTestCredential({
        issuer,
        subject: holder,
        type: 'EnergyProsumerCredential',
        claims: { meterId: 'DE0001', role: 'consumer' },
        statusList,
        index: 10 + i,
      });
      const vp = await presentTestCredentials(holder, [vc], await b.createRequest());
      const results = await Promise.all([a.verifyPresentation(vp), b.verifyPresentation(vp), a.verifyPresentation(vp)]);
      assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results.map((r) => r.ok || r.error.code)));
      assert.ok(results.every((r) => r.ok || r.error.code === 'ERR_VP_NONCE'));
    }
  });
});
