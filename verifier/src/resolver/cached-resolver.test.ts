import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, type AnvilChain, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { ethrDid } from '@tessera/protocol';
import { getAddress, type JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { Resolver } from 'did-resolver';
import { EthrDidController, getResolver } from 'ethr-did-resolver';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedDidResolver } from './cached-resolver.js';
import { RegistryWatcher } from './registry-watcher.js';

let chain: AnvilChain;
let provider: JsonRpcProvider;
let registry: string;
let watcher: RegistryWatcher;
let resolver: CachedDidResolver;
let funder: NonceManager;
const dir = mkdtempSync(join(tmpdir(), 'tessera-resolver-'));

/** Count JSON-RPC requests that actually leave the process. */
function countCalls(p: JsonRpcProvider): { readonly n: number; stop(): void } {
  let n = 0;
  const onDebug = (e: { action: string }) => {
    if (e.action === 'sendRpcPayload') n++;
  };
  p.on('debug', onDebug);
  return {
    get n() {
      return n;
    },
    stop: () => void p.off('debug', onDebug),
  };
}

async function newIdentity(): Promise<{ wallet: Wallet; did: string; controller: EthrDidController }> {
  const wallet = new Wallet(Wallet.createRandom().privateKey, provider);
  await (await funder.sendTransaction({ to: wallet.address, value: 10n ** 18n })).wait();
  const did = ethrDid(chain.chainId, wallet.address);
  const controller = new EthrDidController(
    did,
    undefined,
    wallet as never,
    undefined,
    provider as never,
    undefined,
    registry,
  );
  return { wallet, did, controller };
}

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
  const deployed = await ensureDeployed({
    provider,
    deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  registry = deployed.EthereumDIDRegistry;
  watcher = new RegistryWatcher({ registry, provider: makeProvider(chain.rpcUrl, chain.chainId), wsUrl: chain.wsUrl });
  await watcher.start();
  // A separate provider for resolution, so that the counter sees only the resolver's calls.
  resolver = new CachedDidResolver({
    chainId: chain.chainId,
    provider: makeProvider(chain.rpcUrl, chain.chainId),
    registry,
    watcher,
  });
});

after(async () => {
  await watcher?.stop();
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cached did:ethr resolver', () => {
  it('sees a new key, a delegate and a service right after each on-chain change', async () => {
    const { did, controller } = await newIdentity();
    const d0 = await resolver.resolveDocument(did);
    assert.ok(d0.ok);
    const baseMethods = d0.value.verificationMethod?.length ?? 0;

    const key = Wallet.createRandom().signingKey.compressedPublicKey;
    await watcher.waitForBlock(
      (await controller.setAttribute('did/pub/Secp256k1/veriKey/hex', key, 86400)).blockNumber,
    );
    const d1 = await resolver.resolveDocument(did);
    assert.ok(d1.ok);
    assert.equal(d1.value.verificationMethod?.length, baseMethods + 1, 'the added key is in the document');
    assert.ok(JSON.stringify(d1.value).includes(key.slice(2)), 'the key material is the one written');

    const delegate = Wallet.createRandom().address;
    await watcher.waitForBlock((await controller.addDelegate('veriKey', delegate, 86400)).blockNumber);
    const d2 = await resolver.resolveDocument(did);
    assert.ok(d2.ok);
    assert.ok(
      JSON.stringify(d2.value.verificationMethod).toLowerCase().includes(delegate.slice(2).toLowerCase()),
      'the delegate is listed',
    );

    await watcher.waitForBlock(
      (await controller.setAttribute('did/svc/MessagingService', 'https://tessera.example/msg', 86400)).blockNumber,
    );
    const d3 = await resolver.resolveDocument(did);
    assert.ok(d3.ok);
    assert.equal(d3.value.service?.[0]?.serviceEndpoint, 'https://tessera.example/msg');
  });

  it('a second resolve of an unchanged DID makes no chain call', async () => {
    const { did, controller } = await newIdentity();
    await watcher.waitForBlock(
      (await controller.setAttribute('did/svc/Hub', 'https://hub.example', 86400)).blockNumber,
    );
    const first = await resolver.resolveDocument(did);
    assert.ok(first.ok);
    const calls = countCalls((resolver as unknown as { options: { provider: JsonRpcProvider } }).options.provider);
    const again = await resolver.resolveDocument(did);
    // the same DID spelled with a checksummed address is the same cache entry
    const third = await resolver.resolveDocument(`did:ethr:0x7a69:${getAddress(did.slice(-42))}`);
    calls.stop();
    assert.ok(again.ok && third.ok);
    assert.deepEqual(again.value, first.value);
    assert.equal(calls.n, 0, 'no JSON-RPC request for an unchanged DID');
  });

  it('keeps a copy equal to what plain ethr-did-resolver returns (the compact copy changes no value)', async () => {
    const { did, controller } = await newIdentity();
    await watcher.waitForBlock(
      (
        await controller.setAttribute(
          'did/pub/Secp256k1/veriKey/hex',
          Wallet.createRandom().signingKey.publicKey,
          86400,
        )
      ).blockNumber,
    );
    await watcher.waitForBlock(
      (await controller.setAttribute('did/svc/Hub', 'https://hub.example/a', 86400)).blockNumber,
    );
    await resolver.resolve(did); // fills the cache
    const cached = await resolver.resolve(did);
    const plain = await new Resolver(
      getResolver({
        networks: [
          {
            name: `0x${chain.chainId.toString(16)}`,
            chainId: chain.chainId,
            provider: makeProvider(chain.rpcUrl, chain.chainId) as never,
            registry,
          },
        ],
      }),
    ).resolve(did);
    assert.ok(plain.didDocument && (plain.didDocument.verificationMethod?.length ?? 0) >= 2);
    assert.deepEqual(cached.didDocument, plain.didDocument);
    assert.deepEqual(cached.didDocumentMetadata, plain.didDocumentMetadata);
  });

  it('a change to one identity does not evict another', async () => {
    const a = await newIdentity();
    const b = await newIdentity();
    await resolver.resolveDocument(a.did);
    await resolver.resolveDocument(b.did);
    await watcher.waitForBlock((await a.controller.setAttribute('did/svc/X', 'https://x.example', 86400)).blockNumber);
    const calls = countCalls((resolver as unknown as { options: { provider: JsonRpcProvider } }).options.provider);
    await resolver.resolveDocument(b.did);
    calls.stop();
    assert.equal(calls.n, 0);
    const a2 = await resolver.resolveDocument(a.did);
    assert.ok(a2.ok && a2.value.service?.some((s) => s.serviceEndpoint === 'https://x.example'));
  });

  it('learns of a change by push alone, without being asked to wait for its block', async () => {
    const { did, controller } = await newIdentity();
    await resolver.resolveDocument(did);
    const receipt = await controller.setAttribute('did/svc/Push', 'https://push.example', 86400);
    const seen = await new Promise<boolean>((resolve) => {
      const deadline = setTimeout(() => resolve(false), 3000);
      const check = () => {
        if (watcher.processedBlock >= receipt.blockNumber) {
          clearTimeout(deadline);
          resolve(true);
        } else setTimeout(check, 5);
      };
      check();
    });
    assert.ok(seen, 'the watcher processed the block from the newHeads push');
    const r = await resolver.resolveDocument(did);
    assert.ok(r.ok && r.value.service?.some((s) => s.serviceEndpoint === 'https://push.example'));
  });

  it('stays bounded', async () => {
    const small = new CachedDidResolver({ chainId: chain.chainId, provider, registry, watcher, maxEntries: 3 });
    for (let i = 0; i < 6; i++) await small.resolve(ethrDid(chain.chainId, Wallet.createRandom().address));
    assert.equal(small.stats.size, 3);
  });

  it('reports malformed DIDs, unknown methods and foreign networks with stable codes', async () => {
    const cases: [string, string][] = [
      ['not-a-did', 'ERR_DID_MALFORMED'],
      ['did:ethr:0x7a69:0x1234', 'ERR_DID_MALFORMED'],
      ['did:web:example.com', 'ERR_DID_METHOD_UNSUPPORTED'],
      ['did:ethr:0x1:0x000000000000000000000000000000000000dEaD', 'ERR_DID_NETWORK_UNKNOWN'],
      [`did:ethr:${'a'.repeat(600)}`, 'ERR_DID_MALFORMED'],
    ];
    for (const [did, code] of cases) {
      const r = await resolver.resolveDocument(did);
      assert.ok(!r.ok, did);
      assert.equal(r.error.code, code, did);
    }
    const viaResolvable = await resolver.resolve('did:web:example.com');
    assert.equal(viaResolvable.didResolutionMetadata.error, 'unsupportedDidMethod');
  });

  it('a DID whose owner was set to the null address resolves as deactivated (ERR_DID_NOT_FOUND)', async () => {
    const { did, controller } = await newIdentity();
    await watcher.waitForBlock(
      (await controller.changeOwner('0x0000000000000000000000000000000000000000')).blockNumber,
    );
    const r = await resolver.resolveDocument(did);
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'ERR_DID_NOT_FOUND');
  });
});
