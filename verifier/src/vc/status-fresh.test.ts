import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bitstring, err, ok, TesseraError } from '@tessera/protocol';
import { InMemoryStatusListProvider } from './status.js';
import { FreshStatusLists } from './status-fresh.js';
import { StatusListSync } from './status-sync.js';
import { checkStatusEntries } from './verify.js';

const URL_A = 'https://foreign.example/status/1';

/** A foreign issuer's list as the network delivers it: `up` decides whether it answers; each answer installs a copy. */
function foreign(lists: InMemoryStatusListProvider) {
  const state = { up: true, fetches: 0, revoked: false };
  const refresh = async (url: string) => {
    state.fetches++;
    if (!state.up) return err('ERR_VC_STATUS_UNAVAILABLE', `${url} does not answer`);
    const bits = Bitstring.create();
    bits.set(7, state.revoked);
    lists.putBits(url, 'revocation', bits, 'did:example:foreign');
    return ok(true as const);
  };
  return { state, refresh };
}

describe('status lists of foreign issuers: fetched on use, refreshed past the freshness bound', () => {
  it('fetches on first use, serves the copy within the bound, refetches after it and sees a revocation', async () => {
    const clock = { now: 1_000_000 };
    const lists = new InMemoryStatusListProvider();
    const f = foreign(lists);
    const fresh = new FreshStatusLists({
      lists,
      refresh: f.refresh,
      maxAgeMs: 60_000,
      maxStaleMs: 600_000,
      now: () => clock.now,
    });
    assert.equal((await fresh.getStatusList(URL_A))?.bits.get(7), false);
    assert.equal(f.state.fetches, 1);
    f.state.revoked = true;
    clock.now += 59_999;
    assert.equal((await fresh.getStatusList(URL_A))?.bits.get(7), false, 'within the bound: the copy');
    assert.equal(f.state.fetches, 1);
    clock.now += 1;
    assert.equal((await fresh.getStatusList(URL_A))?.bits.get(7), true, 'past the bound: fetched again');
    assert.equal(f.state.fetches, 2);
  });

  it('serves the last verified copy while the issuer is down, up to the stale bound, then none', async () => {
    const clock = { now: 1_000_000 };
    const lists = new InMemoryStatusListProvider();
    const f = foreign(lists);
    const fresh = new FreshStatusLists({
      lists,
      refresh: f.refresh,
      maxAgeMs: 60_000,
      maxStaleMs: 600_000,
      now: () => clock.now,
    });
    assert.ok(await fresh.getStatusList(URL_A));
    f.state.up = false;
    clock.now += 300_000;
    assert.ok(await fresh.getStatusList(URL_A), 'stale but within the stale bound');
    clock.now += 300_000;
    assert.equal(await fresh.getStatusList(URL_A), undefined, 'past the stale bound: unavailable');
    f.state.up = true;
    assert.ok(await fresh.getStatusList(URL_A), 'back as soon as the issuer answers');
  });

  it('a list nobody can fetch is unavailable; a pushed list is current without any fetch', async () => {
    const lists = new InMemoryStatusListProvider();
    const f = foreign(lists);
    f.state.up = false;
    const fresh = new FreshStatusLists({ lists, refresh: f.refresh, maxAgeMs: 0 });
    assert.equal(await fresh.getStatusList(URL_A), undefined);
    const own = 'https://issuer.example/status-lists/1/revocation';
    lists.putBits(own, 'revocation', Bitstring.create(), 'did:example:own');
    fresh.markPushed(own);
    const before = f.state.fetches;
    assert.ok(await fresh.getStatusList(own));
    assert.equal(f.state.fetches, before, 'pushed lists are kept current by events, not fetched');
    fresh.forget(own);
    assert.equal(await fresh.getStatusList(own), undefined, 'a pushed list that failed to refresh is dropped');
  });

  it('a list our own database cannot read names the database (ERR_UNAVAILABLE), a foreign one that is down does not', async () => {
    const lists = new InMemoryStatusListProvider();
    const own = 'https://issuer.example/status-lists/1/revocation';
    const sync = new StatusListSync({
      verifier: { verifyStatusListCredential: async () => err('ERR_VC_MALFORMED', 'not reached') },
      provider: lists,
      fetchList: async (url) => {
        if (url === own) throw new TesseraError('ERR_UNAVAILABLE', 'the database does not take connections');
        throw new Error('fetch failed');
      },
    });
    const fresh = new FreshStatusLists({ lists, refresh: (url) => sync.refresh(url), maxAgeMs: 0 });
    const entry = (url: string) => ({
      id: `${url}#7`,
      type: 'BitstringStatusListEntry' as const,
      statusPurpose: 'revocation' as const,
      statusListIndex: '7',
      statusListCredential: url,
    });
    const down = await checkStatusEntries(fresh, [entry(own)], 'did:example:own');
    assert.equal(!down.ok && down.error.code, 'ERR_UNAVAILABLE');
    const foreignDown = await checkStatusEntries(fresh, [entry(URL_A)], 'did:example:foreign');
    assert.equal(!foreignDown.ok && foreignDown.error.code, 'ERR_VC_STATUS_UNAVAILABLE');
  });
});
