import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBase64url } from './random.js';

describe('randomBase64url', () => {
  it('gives n random bytes as base64url, never the same twice, across pool refills', () => {
    const seen = new Set<string>();
    // 20,000 × 16 bytes: about 78 refills of the 4 KiB pool
    for (let i = 0; i < 20_000; i++) {
      const id = randomBase64url(16);
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(Buffer.from(id, 'base64url').length, 16);
      seen.add(id);
    }
    assert.equal(seen.size, 20_000);
    assert.equal(Buffer.from(randomBase64url(256), 'base64url').length, 256);
  });

  it('looks uniform: every byte value turns up, each bit about half the time', () => {
    const bytes = Buffer.concat(Array.from({ length: 4096 }, () => Buffer.from(randomBase64url(32), 'base64url')));
    const counts = new Array(256).fill(0);
    for (const b of bytes) counts[b]++;
    assert.ok(counts.every((c) => c > 0));
    const ones = [...bytes].reduce((a, b) => a + (b & 1), 0);
    // 131,072 fair coin flips: 6 standard deviations is ±1,086
    assert.ok(Math.abs(ones - bytes.length / 2) < 1100, `low bit set ${ones} times of ${bytes.length}`);
  });

  it('refuses sizes it cannot give', () => {
    for (const n of [0, -1, 1.5, 257, Number.NaN]) assert.throws(() => randomBase64url(n), RangeError);
  });
});
