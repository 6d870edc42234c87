/**
 * One suite for every HandshakeLimiter: in process (one replica) and Redis (two replicas on separate connections).
 * Expiry is not waited for here (timing never decides a test); the in-process limiter's backoff is checked with a fake
 * clock in limiter.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { HandshakeLimiter, HandshakeLimits } from './limiter.js';

export const SUITE_LIMITS: HandshakeLimits = {
  device: { attempts: 10, windowMs: 60_000, lockoutThreshold: 3 },
  source: { attempts: 1000, windowMs: 60_000, lockoutThreshold: 6 },
  lockout: { baseMs: 60_000, maxMs: 600_000 },
};

export function handshakeLimiterConformance(
  name: string,
  make: (limits: HandshakeLimits) => Promise<{ a: HandshakeLimiter; b: HandshakeLimiter; close(): Promise<void> }>,
): void {
  describe(`handshake limiter (${name})`, () => {
    let a: HandshakeLimiter;
    let b: HandshakeLimiter;
    let close: () => Promise<void>;
    const fresh = (kind: 'device' | 'source') => `${kind}:${randomBytes(8).toString('hex')}`;

    before(async () => {
      ({ a, b, close } = await make(SUITE_LIMITS));
    });
    after(async () => close?.());

    it('locks a device after the threshold of consecutive failures, on every replica, with a growing lockout', async () => {
      const d = fresh('device');
      assert.equal(await a.admit([d]), 0);
      assert.equal(await a.fail([d]), 0);
      assert.equal(await b.fail([d]), 0);
      const first = await a.fail([d]);
      assert.ok(first > 0, 'the third failure locks');
      assert.ok((await b.admit([d])) > 0, 'the other replica refuses it too');
      const second = await b.fail([d]);
      assert.ok(second > first, 'each further failure doubles the lockout');
    });

    it('a success clears the device but not the source', async () => {
      const d = fresh('device');
      const s = fresh('source');
      for (let i = 0; i < 2; i++) await a.fail([d, s]);
      await b.succeed([d]);
      assert.equal(await a.fail([d]), 0, 'the device count started again');
      for (let i = 0; i < 3; i++) await a.fail([s]);
      assert.ok((await a.fail([s])) > 0, 'the source kept its failures');
    });

    it('refuses attempts beyond the budget of the window, counted across replicas', async () => {
      const d = fresh('device');
      for (let i = 0; i < 5; i++) assert.equal(await a.admit([d]), 0);
      for (let i = 0; i < 5; i++) assert.equal(await b.admit([d]), 0);
      assert.ok((await a.admit([d])) > 0);
    });
  });
}
