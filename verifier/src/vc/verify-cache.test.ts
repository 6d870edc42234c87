import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, EthereumDIDRegistry__factory, makeProvider } from '@tessera/contracts';
import { Bitstring } from '@tessera/protocol';
import { parseEther, Wallet } from 'ethers';
import { CachedDidResolver, RegistryWatcher } from '../resolver/index.js';
import { MemoryNonceStore } from './nonce-store.js';
import { InMemoryStatusListProvider } from './status.js';
import { issueTestCredential, presentTestCredentials, startTestChain, type TestChain, testActor } from './testing.js';
import { parseTrustList } from './trust.js';
import { PresentationVerifier } from './verify.js';

const AUDIENCE = 'https://verifier.tessera.test';
const STATUS_LIST = 'https://issuer.tessera.test/status/1';

let t: TestChain;
let watcher: RegistryWatcher;
let cached: CachedDidResolver;
let resolverProvider: ReturnType<typeof makeProvider>;
let chainCalls = 0;

before(async () => {
  t = await startTestChain();
  watcher = new RegistryWatcher({
    registry: t.registry,
    provider: makeProvider(t.chain.rpcUrl, t.chain.chainId),
    wsUrl: t.chain.wsUrl,
  });
  await watcher.start();
  resolverProvider = makeProvider(t.chain.rpcUrl, t.chain.chainId);
  resolverProvider.on('debug', (e: { action: string }) => {
    if (e.action === 'sendRpcPayload') chainCalls++;
  });
  cached = new CachedDidResolver({
    chainId: t.chain.chainId,
    provider: resolverProvider,
    registry: t.registry,
    watcher,
  });
});

after(async () => {
  await watcher?.stop();
  await t?.close();
});

describe('verification behind the event-invalidated DID cache', () => {
  it('re-presenting a credential costs no signature check, yet the same token is refused right after a key rotation', async () => {
    const funder = new Wallet(ANVIL_FUNDER_KEY, t.provider);
    const owner = new Wallet(Wallet.createRandom().privateKey, t.provider);
    await (await funder.sendTransaction({ to: owner.address, value: parseEther('1') })).wait();
    const issuer = testActor(owner);
    const holder = testActor();
    const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    assert.ok(trust.ok);
    const lists = new InMemoryStatusListProvider();
    lists.putBits(STATUS_LIST, 'revocation', Bitstring.create());
    const v = new PresentationVerifier({
      resolver: cached,
      trust: trust.value,
      statusLists: lists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const vc = await issueTestCredential({
      issuer,
      subject: holder,
      type: 'EnergyProsumerCredential',
      claims: { meterId: 'DE0001', role: 'consumer' },
      statusList: STATUS_LIST,
      index: 3,
    });
    const presentOnce = async () =>
      v.verifyPresentation(await presentTestCredentials(holder, [vc], await v.createRequest()));

    assert.ok((await presentOnce()).ok);
    const memo = v.signatures.stats.memoHits;
    const calls = chainCalls;
    for (let i = 0; i < 5; i++) assert.ok((await presentOnce()).ok);
    assert.equal(v.signatures.stats.memoHits, memo + 5, 'the credential signature was remembered');
    assert.equal(chainCalls, calls, 'no chain call on the hot path when nothing changed');

    // ERC-1056 owner rotation: the old key no longer speaks for the DID
    const next = new Wallet(Wallet.createRandom().privateKey);
    const reg = EthereumDIDRegistry__factory.connect(t.registry, owner);
    const receipt = await (await reg.changeOwner(owner.address, next.address)).wait();
    await watcher.waitForBlock(receipt!.blockNumber);
    const refused = await presentOnce();
    assert.ok(!refused.ok && refused.error.code === 'ERR_JWT_SIGNATURE', JSON.stringify(refused));
    assert.equal(v.signatures.stats.memoHits, memo + 5, 'no remembered verdict survives the new document');
    assert.ok(chainCalls > calls, 'the changed document was read from the chain');
  });
});
