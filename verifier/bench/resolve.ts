/**
 * Resolutions per second: the event-invalidated cached resolver against plain ethr-did-resolver on an uncached
 * provider, same DIDs, same chain, same run. Each DID has a realistic change history (keys, delegates, services),
 * which the plain resolver walks on chain every time.
 */
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { ethrDid } from '@tessera/protocol';
import { type BenchReport, percentile, ratio } from '@tessera/runtime';
import { Resolver } from 'did-resolver';
import { NonceManager, Wallet } from 'ethers';
import { EthrDidController, getResolver } from 'ethr-did-resolver';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from '@tessera/runtime';
import { CachedDidResolver } from '../src/resolver/cached-resolver.js';
import { RegistryWatcher } from '../src/resolver/registry-watcher.js';

const DIDS = 20;
const CHANGES_PER_DID = 5;
const DURATION_MS = 3000;
const CONCURRENCY = 8;

async function measure(resolve: (did: string) => Promise<unknown>, dids: string[]) {
  const latencies: number[] = [];
  let n = 0;
  const end = performance.now() + DURATION_MS;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      let i = w;
      while (performance.now() < end) {
        const s = performance.now();
        await resolve(dids[i++ % dids.length]!);
        latencies.push(performance.now() - s);
        n++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: n / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), n };
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-resolve-'));
  const chain = await startAnvil({});
  try {
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
    const { EthereumDIDRegistry: registry } = await ensureDeployed({
      provider,
      deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const dids: string[] = [];
    for (let i = 0; i < DIDS; i++) {
      const w = new Wallet(Wallet.createRandom().privateKey, provider);
      await (await funder.sendTransaction({ to: w.address, value: 10n ** 18n })).wait();
      const did = ethrDid(chain.chainId, w.address);
      const c = new EthrDidController(did, undefined, w as never, undefined, provider as never, undefined, registry);
      for (let j = 0; j < CHANGES_PER_DID; j++) {
        if (j % 3 === 0)
          await c.setAttribute(
            'did/pub/Secp256k1/veriKey/hex',
            Wallet.createRandom().signingKey.compressedPublicKey,
            86400,
          );
        else if (j % 3 === 1) await c.addDelegate('veriKey', Wallet.createRandom().address, 86400);
        else await c.setAttribute(`did/svc/Service${j}`, `https://svc${j}.example`, 86400);
      }
      dids.push(did);
      ctx.progress('creating DIDs on chain', i + 1, DIDS);
    }

    // ours: warm cache, invalidated by events
    const watcher = new RegistryWatcher({
      registry,
      provider: makeProvider(chain.rpcUrl, chain.chainId),
      wsUrl: chain.wsUrl,
    });
    await watcher.start();
    const cachedProvider = makeProvider(chain.rpcUrl, chain.chainId);
    const cached = new CachedDidResolver({ chainId: chain.chainId, provider: cachedProvider, registry, watcher });
    for (const d of dids) await cached.resolve(d);
    let calls = 0;
    cachedProvider.on('debug', (e: { action: string }) => {
      if (e.action === 'sendRpcPayload') calls++;
    });
    ctx.progress('cached resolver', 0, 2);
    const ours = await measure((d) => cached.resolve(d), dids);
    await watcher.stop();

    // baseline: plain ethr-did-resolver, uncached provider, no did-resolver cache
    ctx.progress('plain ethr-did-resolver', 1, 2);
    const plain = new Resolver(
      getResolver({
        networks: [
          {
            name: '0x7a69',
            chainId: chain.chainId,
            provider: makeProvider(chain.rpcUrl, chain.chainId) as never,
            registry,
          },
        ],
      }),
    );
    const base = await measure((d) => plain.resolve(d), dids);
    ctx.progress('plain ethr-did-resolver', 2, 2);

    return {
      bench: 'resolve',
      figures: {
        resolutions_per_s: Math.round(ours.perSecond),
        p50_ms: Number(ours.p50.toFixed(4)),
        p99_ms: Number(ours.p99.toFixed(4)),
        chain_calls_per_1000_cached_resolves: Math.round((calls / ours.n) * 1000),
      },
      baselines: {
        resolutions_per_s: Math.round(base.perSecond),
        p50_ms: Number(base.p50.toFixed(3)),
        p99_ms: Number(base.p99.toFixed(3)),
      },
      ratios: {
        resolutions_per_s: ratio(ours.perSecond, base.perSecond),
        p50_ms: ratio(ours.p50, base.p50, false),
        p99_ms: ratio(ours.p99, base.p99, false),
      },
      machine: ctx.machine,
      notes: [
        `${DIDS} did:ethr identities with ${CHANGES_PER_DID} on-chain changes each, ${CONCURRENCY} concurrent resolvers, ${DURATION_MS / 1000} s per side, embedded anvil`,
        'baseline: did-resolver + ethr-did-resolver 11.0.5 on an uncached ethers JsonRpcProvider (walks the change history every time)',
      ],
    };
  } finally {
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
