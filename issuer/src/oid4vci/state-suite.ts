import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OID4VCI_TX_CODE_MAX_ATTEMPTS } from '@tessera/protocol';
import type { DataSource } from 'typeorm';
import type { StoreBackend } from '../issuer-suite.js';
import { openIssuerDatabase } from '../store.js';
import { Oid4vciState } from './state.js';

/**
 * The OpenID4VCI state as two issuer replicas share it (two connections to one database): single use, wrong
 * transaction codes counted on every replica without spending the code, DPoP proof ids refused when replayed on
 * another replica, expiry. Run against SQLite and PostgreSQL.
 */
export function oid4vciStateSuite(backend: StoreBackend): void {
  describe(`OpenID4VCI state shared by two replicas on ${backend.name}`, () => {
    const dirs: string[] = [];
    const sources: DataSource[] = [];
    after(async () => {
      for (const s of sources.splice(0)) await s.destroy();
      await backend.cleanup();
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });
    async function replicas(clock: { now: number }): Promise<[Oid4vciState, Oid4vciState]> {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-oid4vci-state-'));
      dirs.push(dir);
      const db = await backend.freshDatabase(dir);
      const a = await openIssuerDatabase(db);
      const b = await openIssuerDatabase(db);
      sources.push(a, b);
      const now = () => new Date(clock.now);
      return [new Oid4vciState(a, now), new Oid4vciState(b, now)];
    }

    it('spends a code once across replicas, even when both try at the same moment', async () => {
      const [a, b] = await replicas({ now: Date.now() });
      assert.equal(await a.put('pre-auth', 'code-1', { credentialId: 'x' }, 60_000), true);
      const both = await Promise.all([a.consume('pre-auth', 'code-1'), b.consume('pre-auth', 'code-1')]);
      assert.equal(both.filter((x) => x !== undefined).length, 1, 'exactly one replica spends it');
      assert.equal(await b.status('pre-auth', 'code-1'), 'used');
      assert.equal(await a.status('pre-auth', 'never-issued'), 'unknown');
    });

    it('counts wrong transaction codes on every replica without spending the code, and locks it after the limit', async () => {
      const [a, b] = await replicas({ now: Date.now() });
      await a.put('pre-auth', 'code-2', {}, 60_000);
      for (let i = 1; i < OID4VCI_TX_CODE_MAX_ATTEMPTS; i++) {
        assert.equal(await (i % 2 ? a : b).failAttempt('pre-auth', 'code-2'), i);
      }
      const live = await b.get('pre-auth', 'code-2');
      assert.equal(live?.attempts, OID4VCI_TX_CODE_MAX_ATTEMPTS - 1, 'still live: a wrong guess does not burn it');
      await a.failAttempt('pre-auth', 'code-2');
      assert.equal(await b.consume('pre-auth', 'code-2', OID4VCI_TX_CODE_MAX_ATTEMPTS), undefined, 'locked');
    });

    it('refuses a DPoP proof id seen by the other replica, until it could no longer be accepted', async () => {
      const clock = { now: Date.now() };
      const [a, b] = await replicas(clock);
      assert.equal(await a.put('dpop-jti', 'jkt:jti-1', {}, 120_000), true);
      assert.equal(await b.put('dpop-jti', 'jkt:jti-1', {}, 120_000), false, 'replayed on the other replica');
      clock.now += 121_000;
      assert.equal(await b.put('dpop-jti', 'jkt:jti-1', {}, 120_000), true, 'an expired entry may be taken over');
    });

    it('expires nonces and codes', async () => {
      const clock = { now: Date.now() };
      const [a, b] = await replicas(clock);
      await a.put('c-nonce', 'n-1', {}, 1000);
      clock.now += 1001;
      assert.equal(await b.consume('c-nonce', 'n-1'), undefined);
      assert.equal(await b.status('c-nonce', 'n-1'), 'expired');
      await a.purge();
      assert.equal(await b.status('c-nonce', 'n-1'), 'unknown');
    });
  });
}
