import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newNonce, type NonceStore } from './nonce-store.js';

/** Two stores that share state, as two verifier replicas behind a load balancer do. */
export interface NonceStoreReplicas {
  a: NonceStore;
  b: NonceStore;
  close(): Promise<void>;
}

/**
 * The conformance suite every NonceStore passes (one suite against every configuration): single use,
 * also across replicas and under a race, binding to the audience, and no overwriting of a live nonce.
 */
export function nonceStoreConformance(name: string, open: () => Promise<NonceStoreReplicas>): void {
  describe(`NonceStore conformance: ${name}`, () => {
    let replicas: NonceStoreReplicas;
    before(async () => {
      replicas = await open();
    });
    after(async () => {
      await replicas?.close();
    });

    it('gives a nonce back once, with the audience it was issued for', async () => {
      const n = newNonce();
      assert.equal(await replicas.a.put(n, 'https://v.example', 60_000), true);
      assert.equal(await replicas.a.consume(n), 'https://v.example');
      assert.equal(await replicas.a.consume(n), undefined);
    });

    it('refuses a second use on another replica sharing the store', async () => {
      const n = newNonce();
      await replicas.a.put(n, 'aud', 60_000);
      assert.equal(await replicas.b.consume(n), 'aud', 'replica b sees the nonce issued by a');
      assert.equal(await replicas.a.consume(n), undefined, 'replica a refuses it after b used it');
      assert.equal(await replicas.b.consume(n), undefined);
    });

    it('lets exactly one of many concurrent uses across replicas win', async () => {
      for (let round = 0; round < 20; round++) {
        const n = newNonce();
        await replicas.b.put(n, 'aud', 60_000);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? replicas.a : replicas.b).consume(n)),
        );
        assert.equal(results.filter((r) => r === 'aud').length, 1, `round ${round}: ${JSON.stringify(results)}`);
      }
    });

    it('refuses a nonce it never issued', async () => {
      assert.equal(await replicas.a.consume(newNonce()), undefined);
      assert.equal(await replicas.b.consume(''), undefined);
    });

    it('never overwrites a live nonce (a second put of the same value fails)', async () => {
      const n = newNonce();
      assert.equal(await replicas.a.put(n, 'first', 60_000), true);
      assert.equal(await replicas.b.put(n, 'second', 60_000), false);
      assert.equal(await replicas.b.consume(n), 'first');
    });
  });
}
