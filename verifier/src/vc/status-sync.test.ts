import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bitstring } from '@tessera/protocol';
import { MemoryNonceStore } from './nonce-store.js';
import { InMemoryStatusListProvider } from './status.js';
import { StatusListSync } from './status-sync.js';
import {
  issueTestCredential,
  presentTestCredentials,
  publishTestStatusList,
  startTestChain,
  type TestChain,
  testActor,
} from './testing.js';
import { parseTrustList } from './trust.js';
import { PresentationVerifier } from './verify.js';

const AUDIENCE = 'https://verifier.tessera.test';
const URL_1 = 'https://issuer.tessera.test/status-lists/1/revocation';

let t: TestChain;
before(async () => {
  t = await startTestChain();
});
after(async () => {
  await t?.close();
});

/** A release-on-demand gate, so the test orders events without any timer. */
const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
};

describe('status lists kept current from issuer notifications', () => {
  it('a revocation notified during an in-flight refresh is installed by a follow-up fetch, and then refused', async () => {
    const issuer = testActor();
    const holder = testActor();
    const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    assert.ok(trust.ok);
    const lists = new InMemoryStatusListProvider();
    const verifier = new PresentationVerifier({
      resolver: t.resolver,
      trust: trust.value,
      statusLists: lists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    // what the issuer serves at URL_1 right now
    const bits = Bitstring.create();
    let published = await publishTestStatusList(issuer, URL_1, 'revocation', bits);
    const gates = [gate(), gate()];
    let fetches = 0;
    const errors: string[] = [];
    const sync = new StatusListSync({
      verifier,
      provider: lists,
      fetchList: async () => {
        const body = published; // the server reads the list when the request arrives...
        await gates[fetches++]?.opened; // ...and the response takes a while
        return body;
      },
      onError: (_url, e) => errors.push(e.code),
    });

    const vc = await issueTestCredential({
      issuer,
      subject: holder,
      type: 'EnergyProsumerCredential',
      claims: { meterId: 'DE0001', role: 'consumer' },
      statusList: URL_1,
      index: 5,
    });
    const present = async () =>
      verifier.verifyPresentation(await presentTestCredentials(holder, [vc], await verifier.createRequest()));

    const first = sync.refresh(URL_1); // fetch 1 reads the clear list and hangs
    bits.set(5, true);
    published = await publishTestStatusList(issuer, URL_1, 'revocation', bits); // the issuer revokes
    const notified = sync.refresh(URL_1); // ...and notifies while fetch 1 is in flight
    gates[0]!.open();
    gates[1]!.open();
    assert.deepEqual(await first, { ok: true, value: true });
    assert.deepEqual(await notified, { ok: true, value: true });
    assert.equal(fetches, 2, 'one follow-up fetch, not one per notification');
    const r = await present();
    assert.ok(!r.ok && r.error.code === 'ERR_VC_REVOKED', JSON.stringify(r));
    assert.deepEqual(errors, []);
  });

  it('keeps the previous list when a fetch fails or the published list is forged', async () => {
    const issuer = testActor();
    const rogue = testActor();
    const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    assert.ok(trust.ok);
    const lists = new InMemoryStatusListProvider();
    const verifier = new PresentationVerifier({
      resolver: t.resolver,
      trust: trust.value,
      statusLists: lists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const revoked = Bitstring.create();
    revoked.set(9, true);
    let serve: () => Promise<string> = () => publishTestStatusList(issuer, URL_1, 'revocation', revoked);
    const errors: string[] = [];
    const sync = new StatusListSync({
      verifier,
      provider: lists,
      fetchList: () => serve(),
      onError: (_u, e) => errors.push(e.code),
    });
    assert.ok((await sync.refresh(URL_1)).ok);
    assert.equal(lists.getStatusList(URL_1)?.bits.get(9), true);

    serve = async () => {
      throw new Error('connection refused');
    };
    const down = await sync.refresh(URL_1);
    assert.ok(!down.ok && down.error.code === 'ERR_VC_STATUS_UNAVAILABLE');
    // an all-clear list signed by someone else in the issuer's name must not un-revoke anything
    serve = async () => {
      const jwt = await publishTestStatusList(rogue, URL_1, 'revocation', Bitstring.create());
      const [h, , s] = jwt.split('.');
      const genuine = (await publishTestStatusList(issuer, URL_1, 'revocation', Bitstring.create())).split('.')[1];
      return `${h}.${genuine}.${s}`;
    };
    const forged = await sync.refresh(URL_1);
    assert.ok(!forged.ok && forged.error.code === 'ERR_JWT_SIGNATURE');
    assert.equal(lists.getStatusList(URL_1)?.bits.get(9), true, 'still revoked');
    assert.deepEqual(errors, ['ERR_VC_STATUS_UNAVAILABLE', 'ERR_JWT_SIGNATURE']);
  });
});
