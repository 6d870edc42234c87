import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { libsecp256k1 } from './secp256k1.js';
import { Secp256k1Worker } from './secp256k1-worker.js';

const digest = (s: string) => new Uint8Array(createHash('sha256').update(s).digest());
// secp256k1 group order n: an s of n or above is not a signature, and libsecp256k1 throws on it.
const N = Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex');

describe('Secp256k1Worker', { skip: libsecp256k1 ? false : 'the libsecp256k1 addon does not load here' }, () => {
  const lib = libsecp256k1!;
  const worker = Secp256k1Worker.start()!;
  after(() => worker.close());
  const seckey = new Uint8Array(randomBytes(32));
  const publicKey = (k: Uint8Array) => lib.publicKeyCreate(k, false);
  const point = publicKey(seckey);

  it('signs the same RFC 6979 bytes as libsecp256k1 on this thread, and those verify', async () => {
    const sign = worker.signer(seckey);
    for (const m of ['a', 'b', 'presentation']) {
      const sig = await sign(digest(m));
      assert.deepEqual(Buffer.from(sig), Buffer.from(lib.ecdsaSign(digest(m), seckey).signature));
      assert.equal(await worker.verify(sig, digest(m), point), true);
      assert.equal(await worker.verify(sig, digest(m), lib.publicKeyCreate(seckey, true)), true);
    }
  });

  it('refuses a wrong digest, a wrong key, a flipped bit, s ≥ n and malformed sizes without throwing', async () => {
    const sig = lib.ecdsaSign(digest('m'), seckey).signature;
    assert.equal(await worker.verify(sig, digest('other'), point), false);
    assert.equal(await worker.verify(sig, digest('m'), publicKey(new Uint8Array(randomBytes(32)))), false);
    const flipped = new Uint8Array(sig);
    flipped[10]! ^= 1;
    assert.equal(await worker.verify(flipped, digest('m'), point), false);
    const overflow = new Uint8Array(sig);
    overflow.set(N, 32);
    assert.equal(await worker.verify(overflow, digest('m'), point), false);
    assert.equal(await worker.verify(sig.subarray(0, 63), digest('m'), point), false);
    assert.equal(await worker.verify(sig, digest('m').subarray(1), point), false);
    assert.equal(await worker.verify(sig, digest('m'), point.subarray(1)), false);
  });

  it('answers a thousand concurrent operations, mixed, each with its own result', async () => {
    const sign = worker.signer(seckey);
    const good = lib.ecdsaSign(digest('m'), seckey).signature;
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        i % 3 === 0
          ? sign(digest(`m${i}`)).then((s) => Buffer.from(s).equals(lib.ecdsaSign(digest(`m${i}`), seckey).signature))
          : worker.verify(good, digest(i % 3 === 1 ? 'm' : `x${i}`), point).then((v) => v === (i % 3 === 1)),
      ),
    );
    assert.equal(results.filter((r) => !r).length, 0);
  });

  it('closes while a large batch is in flight: the worker answers it first, the process survives', async () => {
    const w = Secp256k1Worker.start()!;
    const sig = lib.ecdsaSign(digest('m'), seckey).signature;
    const pending = Array.from({ length: 3000 }, (_, i) => w.verify(sig, digest(i % 2 ? 'm' : 'n'), point));
    // let the batch reach the worker, then close in the middle of its work
    await new Promise((r) => setImmediate(r));
    await w.close();
    const results = await Promise.all(pending);
    assert.equal(results.filter((v, i) => v !== (i % 2 === 1)).length, 0);
    assert.equal(await w.verify(sig, digest('m'), point), true, 'and later ones run here');
  });

  it('falls back to this thread when the worker is gone, pending operations included', async () => {
    const w = Secp256k1Worker.start()!;
    const sign = w.signer(seckey);
    const sig = lib.ecdsaSign(digest('m'), seckey).signature;
    const pending = [w.verify(sig, digest('m'), point), sign(digest('m')), w.verify(sig, digest('n'), point)];
    await w.close();
    const [v1, s, v2] = await Promise.all(pending);
    assert.equal(v1, true);
    assert.deepEqual(Buffer.from(s as Uint8Array), Buffer.from(sig));
    assert.equal(v2, false);
    assert.equal(await w.verify(sig, digest('m'), point), true);
    assert.ok(w.fallbacks >= 1);
  });
});
