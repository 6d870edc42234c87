import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_HANDSHAKE_LIMITS, lockoutMs, MemoryHandshakeLimiter } from './limiter.js';
import { handshakeLimiterConformance } from './limiter.suite.js';

handshakeLimiterConformance('in process', async (limits) => {
  const l = new MemoryHandshakeLimiter({ limits });
  return { a: l, b: l, close: async () => undefined };
});

describe('handshake lockout backoff (fake clock)', () => {
  it('doubles from 1 s after the threshold, capped at 15 minutes, and ends when its time is up', async () => {
    assert.equal(lockoutMs(4, DEFAULT_HANDSHAKE_LIMITS), 0);
    assert.equal(lockoutMs(5, DEFAULT_HANDSHAKE_LIMITS), 1000);
    assert.equal(lockoutMs(7, DEFAULT_HANDSHAKE_LIMITS), 4000);
    assert.equal(lockoutMs(40, DEFAULT_HANDSHAKE_LIMITS), 15 * 60_000);
    let now = 1_000_000;
    const l = new MemoryHandshakeLimiter({ now: () => now });
    for (let i = 0; i < 4; i++) assert.equal(await l.fail(['device:x']), 0);
    assert.equal(await l.fail(['device:x']), 1000);
    assert.equal(await l.admit(['device:x']), 1000);
    now += 999;
    assert.equal(await l.admit(['device:x']), 1);
    now += 1;
    assert.equal(await l.admit(['device:x']), 0);
  });
});
