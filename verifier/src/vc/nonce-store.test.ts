import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TesseraError } from '@tessera/protocol';
import { MemoryNonceStore, newNonce } from './nonce-store.js';
import { nonceStoreConformance } from './nonce-store.suite.js';

// In one process the "replicas" share one store object, as verifier instances in one process do.
nonceStoreConformance('in-memory', async () => {
  const store = new MemoryNonceStore();
  return { a: store, b: store, close: async () => {} };
});

describe('MemoryNonceStore expiry (fake clock)', () => {
  it('refuses a nonce after its lifetime and forgets it', async () => {
    let clock = 1_000_000;
    const store = new MemoryNonceStore({ now: () => clock });
    const n = newNonce();
    await store.put(n, 'aud', 5_000);
    clock += 5_000;
    assert.equal(await store.consume(n), undefined);
    assert.equal(store.size(), 0);
  });

  it('drops expired nonces when full instead of growing without bound', async () => {
    let clock = 0;
    const store = new MemoryNonceStore({ now: () => clock, maxEntries: 3 });
    for (let i = 0; i < 3; i++) await store.put(`n${i}`, 'aud', 10);
    // full: a coded ERR_CAPACITY (503 at HTTP) with the time until the oldest entry lapses, not an internal error
    await assert.rejects(
      store.put('n3', 'aud', 10),
      (e: unknown) =>
        e instanceof TesseraError &&
        e.code === 'ERR_CAPACITY' &&
        e.status === 503 &&
        (e.details as { retryAfterS: number }).retryAfterS >= 1,
    );
    clock = 10;
    assert.equal(await store.put('n3', 'aud', 10), true);
    assert.equal(store.size(), 1);
  });
});
