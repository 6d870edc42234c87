/**
 * Presentations verified per second, in process (no HTTP): this verifier (every embedded credential checked, nonce
 * consumed, status read, behind the event-invalidated DID cache) against did-jwt-vc `verifyPresentation` plus
 * `verifyCredential` on each embedded credential, (a) with plain ethr-did-resolver and (b) with the same cached
 * resolver, so the difference that is not resolution shows. Same presentations, same chain, same run; each presentation
 * carries one credential and a fresh nonce.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { Bitstring, statusListEntry } from '@tessera/protocol';
import { type BenchReport, percentile, ratio } from '@tessera/runtime';
import { ES256KSigner } from 'did-jwt';
import {
  createVerifiableCredentialJwt,
  createVerifiablePresentationJwt,
  verifyCredential,
  verifyPresentation,
} from 'did-jwt-vc';
import { Resolver, type Resolvable } from 'did-resolver';
import { Wallet } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import type { BenchContext } from '@tessera/runtime';
import { CachedDidResolver } from '../src/resolver/cached-resolver.js';
import { RegistryWatcher } from '../src/resolver/registry-watcher.js';
import { MemoryNonceStore } from '../src/vc/nonce-store.js';
import { InMemoryStatusListProvider } from '../src/vc/status.js';
import { parseTrustList } from '../src/vc/trust.js';
import { PresentationVerifier } from '../src/vc/verify.js';

const HOLDERS = 50;
const PRESENTATIONS = 1500;
const BASELINE_PRESENTATIONS = 150;
const CONCURRENCY = 8;
const AUDIENCE = 'https://verifier.tessera.bench';
const STATUS_LIST = 'https://issuer.tessera.bench/status/1';
const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];

const actor = () => {
  const w = Wallet.createRandom();
  return {
    did: `did:ethr:0x7a69:${w.address.toLowerCase()}`,
    signer: ES256KSigner(Buffer.from(w.privateKey.slice(2), 'hex')),
  };
};

async function measure(items: string[], verify: (jwt: string) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const jwt = items[next++]!;
        const s = performance.now();
        await verify(jwt);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: items.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-vp-'));
  const chain = await startAnvil({});
  const watcher = { stop: async () => {} } as Pick<RegistryWatcher, 'stop'>;
  try {
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const { EthereumDIDRegistry: registry } = await ensureDeployed({
      provider,
      deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const w = new RegistryWatcher({
      registry,
      provider: makeProvider(chain.rpcUrl, chain.chainId),
      wsUrl: chain.wsUrl,
    });
    await w.start();
    watcher.stop = () => w.stop();
    const cached = new CachedDidResolver({
      chainId: chain.chainId,
      provider: makeProvider(chain.rpcUrl, chain.chainId),
      registry,
      watcher: w,
    });
    const network = { name: '0x7a69', chainId: chain.chainId, provider: provider as never, registry };
    const plain: Resolvable = new Resolver(getResolver({ networks: [network] }));

    const issuer = actor();
    const holders = Array.from({ length: HOLDERS }, actor);
    const trust = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    if (!trust.ok) throw new Error(trust.error.message);
    const lists = new InMemoryStatusListProvider();
    lists.putBits(STATUS_LIST, 'revocation', Bitstring.create());
    const verifier = new PresentationVerifier({
      resolver: cached,
      trust: trust.value,
      statusLists: lists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });

    // one credential per holder, presented many times, each time with a fresh nonce (the wallet flow)
    const now = Math.floor(Date.now() / 1000);
    const credentials = await Promise.all(
      holders.map((h, i) =>
        createVerifiableCredentialJwt(
          {
            sub: h.did,
            nbf: now - 60,
            exp: now + 3600,
            vc: {
              '@context': CONTEXT,
              type: ['VerifiableCredential', 'EnergyProsumerCredential'],
              credentialSubject: { meterId: `DE${String(i).padStart(6, '0')}`, role: 'consumer' },
              credentialStatus: statusListEntry(STATUS_LIST, i, 'revocation'),
            } as never,
          },
          { did: issuer.did, signer: issuer.signer, alg: 'ES256K' },
        ),
      ),
    );
    const presentations: string[] = [];
    for (let i = 0; i < PRESENTATIONS; i++) {
      const h = i % HOLDERS;
      const { nonce } = await verifier.createRequest();
      presentations.push(
        await createVerifiablePresentationJwt(
          {
            vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [credentials[h]!] },
          } as never,
          { did: holders[h]!.did, signer: holders[h]!.signer, alg: 'ES256K' },
          { challenge: nonce, domain: AUDIENCE },
        ),
      );
      if (i % 100 === 99) ctx.progress('signing presentations', i + 1, PRESENTATIONS);
    }
    for (const d of [issuer.did, ...holders.map((h) => h.did)]) await cached.resolve(d);

    let failures = 0;
    ctx.progress('this verifier', 0, 3);
    const ours = await measure(presentations, async (jwt) => {
      if (!(await verifier.verifyPresentation(jwt)).ok) failures++;
    });
    if (failures > 0) throw new Error(`${failures} presentations were refused by this verifier`);

    const library = (resolver: Resolvable) => async (jwt: string) => {
      const vp = await verifyPresentation(jwt, resolver, { domain: AUDIENCE });
      for (const vc of vp.verifiablePresentation.verifiableCredential ?? []) {
        const proof = (vc as { proof?: { jwt?: string } }).proof;
        await verifyCredential(proof?.jwt ?? String(vc), resolver);
      }
    };
    const sample = presentations.slice(0, BASELINE_PRESENTATIONS);
    ctx.progress('did-jwt-vc, plain resolver', 1, 3);
    const basePlain = await measure(sample, library(plain));
    ctx.progress('did-jwt-vc, cached resolver', 2, 3);
    const baseCached = await measure(sample, library(cached));
    ctx.progress('did-jwt-vc, cached resolver', 3, 3);

    return {
      bench: 'vp-verify',
      figures: {
        presentations_per_s: Math.round(ours.perSecond),
        p50_ms: Number(ours.p50.toFixed(3)),
        p99_ms: Number(ours.p99.toFixed(3)),
        presentations_per_s_vs_cached_library: Math.round(ours.perSecond),
      },
      baselines: {
        presentations_per_s: Math.round(basePlain.perSecond),
        p50_ms: Number(basePlain.p50.toFixed(3)),
        p99_ms: Number(basePlain.p99.toFixed(3)),
        presentations_per_s_vs_cached_library: Math.round(baseCached.perSecond),
      },
      ratios: {
        presentations_per_s: ratio(ours.perSecond, basePlain.perSecond),
        p50_ms: ratio(ours.p50, basePlain.p50, false),
        p99_ms: ratio(ours.p99, basePlain.p99, false),
        presentations_per_s_vs_cached_library: ratio(ours.perSecond, baseCached.perSecond),
      },
      machine: ctx.machine,
      notes: [
        `${PRESENTATIONS} presentations (${HOLDERS} holders, one credential each, fresh nonce each), ${CONCURRENCY} concurrent, one thread, in process (no HTTP)`,
        `baselines on the first ${BASELINE_PRESENTATIONS} of the same presentations: did-jwt-vc 4.0.7 verifyPresentation + verifyCredential per embedded credential, with plain ethr-did-resolver 11.0.5 (baseline) and with the same cached resolver (…_vs_cached_library); they check neither nonce nor trust nor status`,
        `signature paths: ${JSON.stringify(verifier.signatures.stats)}`,
      ],
    };
  } finally {
    await watcher.stop();
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
