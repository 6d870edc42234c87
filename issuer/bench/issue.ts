/**
 * Credentials issued per second through the issuer (claims validated, status index allocated, JWT signed by the
 * Veramo agent with the sealed key, credential + audit entry committed in one SQLite transaction), against the bare
 * cost of signing the same credential with did-jwt-vc and an in-memory key (no validation, no storage): the baseline
 * shows what the bookkeeping costs. Also status changes (suspend) per second. Same payloads, same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { statusListEntry } from '@tessera/protocol';
import { type BenchReport, percentile, ratio } from '@tessera/runtime';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, type JwtCredentialPayload } from 'did-jwt-vc';
import { Wallet } from 'ethers';
import type { BenchContext } from '@tessera/runtime';
import { buildIssuer } from '../src/issuer.js';
import { openIssuerDatabase } from '../src/store.js';

const CREDENTIALS = Number(process.env.TESSERA_BENCH_CREDENTIALS ?? 400);
const CONCURRENCY = 8;
const claims = (i: number) => ({
  meterId: `DE${String(i).padStart(8, '0')}`,
  role: 'prosumer',
  nameplateKw: 5 + (i % 7),
});
const subject = (i: number) => `did:ethr:0x7a69:0x${i.toString(16).padStart(40, '0')}`;

async function measure(n: number, fn: (i: number) => Promise<unknown>, ctx: BenchContext, label: string) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        latencies.push(performance.now() - s);
        ctx.progress(label, latencies.length, n);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: n / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-issue-'));
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const ds = await openIssuerDatabase({ sqlitePath: join(dir, 'issuer.sqlite') });
  try {
    const { EthereumDIDRegistry } = await ensureDeployed({
      provider,
      deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const key = Wallet.createRandom();
    const issuer = await buildIssuer(
      { dataDir: dir },
      {
        dataSource: ds,
        provider,
        chainId: chain.chainId,
        registryAddress: EthereumDIDRegistry,
        issuerPrivateKey: key.privateKey,
      },
    );
    const ids: string[] = [];
    const ours = await measure(
      CREDENTIALS,
      async (i) => {
        const r = await issuer.issue({ type: 'EnergyProsumerCredential', subject: subject(i), claims: claims(i) });
        if (!r.ok) throw new Error(r.error.message);
        ids.push(r.value.id);
      },
      ctx,
      'issue (issuer)',
    );
    const changes = await measure(
      CREDENTIALS,
      async (i) => {
        const r = await issuer.suspend(ids[i]!);
        if (!r.ok) throw new Error(r.error.message);
      },
      ctx,
      'suspend (issuer)',
    );
    const signer = {
      did: issuer.did,
      signer: ES256KSigner(Buffer.from(key.privateKey.slice(2), 'hex')),
      alg: 'ES256K',
    };
    const base = await measure(
      CREDENTIALS,
      (i) =>
        createVerifiableCredentialJwt(
          {
            sub: subject(i),
            nbf: Math.floor(Date.now() / 1000),
            exp: Math.floor(Date.now() / 1000) + 365 * 86400,
            jti: `urn:uuid:${crypto.randomUUID()}`,
            vc: {
              '@context': ['https://www.w3.org/2018/credentials/v1'],
              type: ['VerifiableCredential', 'EnergyProsumerCredential'],
              credentialSubject: claims(i),
              credentialStatus: [
                statusListEntry('http://127.0.0.1:8080/status-lists/1/revocation', i, 'revocation'),
                statusListEntry('http://127.0.0.1:8080/status-lists/1/suspension', i, 'suspension'),
              ],
            },
            // VC 1.1 allows an array of status entries; did-jwt-vc's type has only one.
          } as unknown as JwtCredentialPayload,
          signer,
        ),
      ctx,
      'sign only (did-jwt-vc)',
    );
    return {
      bench: 'issue',
      figures: {
        credentials_per_s: Math.round(ours.perSecond),
        issue_p50_ms: Number(ours.p50.toFixed(2)),
        issue_p99_ms: Number(ours.p99.toFixed(2)),
        status_changes_per_s: Math.round(changes.perSecond),
        status_change_p99_ms: Number(changes.p99.toFixed(2)),
      },
      baselines: {
        credentials_per_s: Math.round(base.perSecond),
        issue_p50_ms: Number(base.p50.toFixed(2)),
        issue_p99_ms: Number(base.p99.toFixed(2)),
      },
      ratios: {
        credentials_per_s: ratio(ours.perSecond, base.perSecond),
        issue_p50_ms: ratio(ours.p50, base.p50, false),
        issue_p99_ms: ratio(ours.p99, base.p99, false),
      },
      machine: ctx.machine,
      notes: [
        `${CREDENTIALS} EnergyProsumer credentials, ${CONCURRENCY} concurrent callers, SQLite (WAL) in a temp dir`,
        'baseline: did-jwt-vc signing of the same credential with an in-memory key, nothing validated or stored',
      ],
    };
  } finally {
    await ds.destroy();
    provider.destroy();
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
