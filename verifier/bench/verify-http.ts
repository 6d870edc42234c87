/**
 * `npm run bench -- verify`: verified presentations per second THROUGH HTTP. The verifier (router + event-invalidated
 * DID cache + pushed status lists) runs in its own process (verify-http-server.ts); this process is the load generator
 * (node:http, keep-alive agent, CONCURRENCY requests in flight). Each presentation carries one credential and answers a
 * fresh nonce; the nonces are obtained beforehand through `POST /presentation-requests` (also timed), then every
 * presentation is signed, then `POST /presentations` is timed: each one is verified (presentation, credential, trust,
 * status, nonce), evaluated against the policy, and answered with an access token.
 *
 * The load generator shares the machine's two cores with the verifier (its CPU per presentation is reported); the
 * baselines run in this process between this verifier's rounds, while the verifier idles.
 *
 * Baselines, same run, on the same presentations (a sample, in this process, no HTTP, which favours them):
 * (a) did-jwt-vc verifyPresentation + verifyCredential on each embedded credential with plain ethr-did-resolver;
 * (b) a Veramo 7 agent (credential-w3c + credential-jwt + did-resolver plugin with ethr-did-resolver):
 *     verifyPresentation (challenge + domain) + verifyCredential on each embedded credential.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { type BenchReport, percentile, ratio, statusListEntry } from '@tessera/protocol';
import { createAgent, type ICredentialPlugin, type IResolver } from '@veramo/core';
import { CredentialProviderJWT } from '@veramo/credential-jwt';
import { CredentialPlugin } from '@veramo/credential-w3c';
import { DIDResolverPlugin } from '@veramo/did-resolver';
import { ES256KSigner } from 'did-jwt';
import {
  createVerifiableCredentialJwt,
  createVerifiablePresentationJwt,
  verifyCredential,
  verifyPresentation,
} from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { Wallet } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import { Redis } from 'ioredis';
import type { BenchContext } from '../../scripts/bench.js';
import type { BenchServerConfig } from './verify-http-server.js';

const HOLDERS = 50;
const WARMUP = 500;
const PRESENTATIONS = 4000;
/**
 * Per contender and round, three times the number in flight: with fewer, the last items of a round run with most of
 * the slots idle, which would understate a baseline that waits on the chain (40 per round at 32 in flight did).
 */
const BASELINE_PRESENTATIONS = 384;
const ROUNDS = 4;
const CONCURRENCY = 32;
// The same number in flight as this verifier gets: the baselines wait on the chain, more concurrency helps them.
const BASELINE_CONCURRENCY = CONCURRENCY;
/**
 * Verifier replicas under node:cluster with nonces in Redis, one per core, when Redis answers (as replicas are deployed,
 * DESIGN §3); otherwise one process with in-memory nonces. TESSERA_BENCH_VERIFY_WORKERS overrides.
 */
async function replicas(): Promise<number> {
  if (process.env.TESSERA_BENCH_VERIFY_WORKERS) return Number(process.env.TESSERA_BENCH_VERIFY_WORKERS);
  const redis = new Redis(process.env.TESSERA_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG' ? Math.max(1, cpus().length) : 1;
  } catch {
    return 1;
  } finally {
    redis.disconnect();
  }
}
const STATUS_LIST = 'https://issuer.tessera.bench/status-lists/1/revocation';
const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];

const actor = () => {
  const w = Wallet.createRandom();
  return {
    key: w.privateKey,
    did: `did:ethr:0x7a69:${w.address.toLowerCase()}`,
    signer: ES256KSigner(Buffer.from(w.privateKey.slice(2), 'hex')),
  };
};

/**
 * The load generator's HTTP/1.1 client: CONCURRENCY keep-alive connections, each request written as one string, the
 * answer read by its Content-Length and parsed as JSON (status and body are checked by the caller). It does what a
 * node:http Agent does for this traffic at about half the CPU, so that the client takes less of the cores the verifier
 * runs on (its CPU per presentation is reported).
 */
function client(port: number) {
  type Answer = { status: number; body: Record<string, unknown> };
  class Connection {
    readonly socket: Socket;
    private buffer: Buffer = Buffer.alloc(0);
    pending?: { resolve: (a: Answer) => void; reject: (e: Error) => void };

    constructor() {
      this.socket = connect(port, '127.0.0.1');
      this.socket.setNoDelay(true);
      this.socket.on('data', (d: Buffer) => this.read(d));
      this.socket.on('error', (e) => this.fail(e));
      this.socket.on('close', () => this.fail(new Error('the verifier closed the connection')));
    }

    private fail(e: Error) {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(e);
    }

    private read(d: Buffer) {
      this.buffer = this.buffer.length === 0 ? d : Buffer.concat([this.buffer, d]);
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buffer.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) return this.fail(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
      const total = end + 4 + Number(length[1]);
      if (this.buffer.length < total) return;
      const body = this.buffer.subarray(end + 4, total).toString('utf8');
      this.buffer = this.buffer.subarray(total);
      const p = this.pending;
      this.pending = undefined;
      try {
        p?.resolve({ status: Number(head.slice(9, 12)), body: JSON.parse(body) as Record<string, unknown> });
      } catch (e) {
        p?.reject(e as Error);
      }
    }
  }
  const idle: Connection[] = [];
  const waiting: ((c: Connection) => void)[] = [];
  let opened = 0;
  const acquire = () =>
    new Promise<Connection>((resolve) => {
      const c = idle.pop();
      if (c) resolve(c);
      else if (opened < CONCURRENCY) {
        opened++;
        resolve(new Connection());
      } else waiting.push(resolve);
    });
  const release = (c: Connection) => {
    const next = waiting.shift();
    if (next) next(c);
    else idle.push(c);
  };
  const post = async (path: string, body: unknown): Promise<Answer> => {
    const data = JSON.stringify(body);
    const c = await acquire();
    try {
      return await new Promise<Answer>((resolve, reject) => {
        c.pending = { resolve, reject };
        c.socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`,
        );
      });
    } finally {
      release(c);
    }
  };
  const close = () => {
    for (const c of idle) c.socket.destroy();
  };
  return Object.assign(post, { close });
}

/** Throughput and latency of several timed runs added up (rounds interleave the contenders, see below). */
class Meter {
  private readonly latencies: number[] = [];
  private seconds = 0;
  private items = 0;
  /** Throughput of each run, for the notes (how much the rounds differ shows the machine's noise). */
  readonly rounds: number[] = [];

  async run<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<this> {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < items.length) {
          const item = items[next++]!;
          const s = performance.now();
          await fn(item);
          this.latencies.push(performance.now() - s);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    this.seconds += seconds;
    this.items += items.length;
    this.rounds.push(items.length / seconds);
    return this;
  }

  get result() {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { perSecond: this.items / this.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }
}

/** CPU time (user + system, ms) of a process from /proc (Linux; clock ticks of 10 ms), 0 where unreadable. */
function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** `root` and every process below it (the verifier's cluster primary and its replicas). */
function processTree(root: number): number[] {
  const parentOf = new Map<number, number>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    return [root];
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** CPU time (ms) of this process, of the verifier's processes and of anvil, to take differences of. */
const cpuNow = (verifierPids: number[], anvilPid: number) => {
  const own = process.cpuUsage();
  return {
    client: (own.user + own.system) / 1000,
    verifier: verifierPids.reduce((t, pid) => t + procCpuMs(pid), 0),
    anvil: procCpuMs(anvilPid),
  };
};

const measure = async <T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) =>
  (await new Meter().run(items, concurrency, fn)).result;

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const WORKERS = await replicas();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-verify-'));
  const chain = await startAnvil({});
  const server = fork(fileURLToPath(new URL('./verify-http-server.ts', import.meta.url)), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [
      ...process.execArgv,
      ...(process.env.TESSERA_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TESSERA_BENCH_PROF}`] : []),
    ],
  });
  try {
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const { EthereumDIDRegistry: registry } = await ensureDeployed({
      provider,
      deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const issuer = actor();
    const verifierActor = actor();
    const holders = Array.from({ length: HOLDERS }, actor);
    const audience = verifierActor.did;

    const config: BenchServerConfig = {
      rpcUrl: chain.rpcUrl,
      wsUrl: chain.wsUrl,
      chainId: chain.chainId,
      registry,
      verifierDid: verifierActor.did,
      verifierKey: verifierActor.key,
      issuerDid: issuer.did,
      statusList: STATUS_LIST,
      warm: [issuer.did, ...holders.map((h) => h.did)],
      workers: WORKERS,
      ...(process.env.TESSERA_BENCH_REDIS_URL ? { redisUrl: process.env.TESSERA_BENCH_REDIS_URL } : {}),
    };
    const ready = new Promise<number>((resolve, reject) => {
      server.once('message', (m: { port?: number; error?: string }) =>
        m.port ? resolve(m.port) : reject(new Error(`verifier process: ${m.error}`)),
      );
      server.once('exit', (code) => reject(new Error(`verifier process exited (${code})`)));
    });
    server.send(config);
    const post = client(await ready);

    const now = Math.floor(Date.now() / 1000);
    const meter = (i: number) => `DE${String(i).padStart(6, '0')}`;
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
              credentialSubject: { meterId: meter(i), role: 'consumer' },
              credentialStatus: statusListEntry(STATUS_LIST, i, 'revocation'),
            } as never,
          },
          { did: issuer.did, signer: issuer.signer, alg: 'ES256K' },
        ),
      ),
    );

    // Nonces first, through HTTP: each presentation request names the meter the holder's credential is for.
    const total = WARMUP + PRESENTATIONS;
    const nonces: string[] = new Array(total);
    const indexes = Array.from({ length: total }, (_, i) => i);
    const requests = await measure(indexes, CONCURRENCY, async (i) => {
      const r = await post('/verifier/presentation-requests', {
        resource: `/energy/meters/${meter(i % HOLDERS)}/orders`,
        action: 'POST',
      });
      if (r.status !== 201) throw new Error(`presentation request refused: ${JSON.stringify(r.body)}`);
      nonces[i] = r.body.nonce as string;
    });

    const presentations: string[] = [];
    for (let i = 0; i < total; i++) {
      const h = i % HOLDERS;
      presentations.push(
        await createVerifiablePresentationJwt(
          {
            vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [credentials[h]!] },
          } as never,
          { did: holders[h]!.did, signer: holders[h]!.signer, alg: 'ES256K' },
          { challenge: nonces[i]!, domain: audience },
        ),
      );
      if (i % 250 === 249) ctx.progress('signing presentations', i + 1, total);
    }

    let refused = 0;
    let firstRefusal = '';
    const submit = async (vp: string) => {
      const r = await post('/verifier/presentations', { vp });
      if (r.status !== 200 || typeof r.body.access_token !== 'string') {
        refused++;
        firstRefusal ||= JSON.stringify(r.body);
      }
    };
    ctx.progress('warm-up', 0, 1);
    await measure(presentations.slice(0, WARMUP), CONCURRENCY, submit);
    // Rounds interleave the contenders, so that other work on the machine weighs on all of them alike: in each round
    // this verifier takes its share of the timed presentations, then both baselines verify the first of that share.
    const timed = presentations.slice(WARMUP);
    const network = { name: '0x7a69', chainId: chain.chainId, provider: provider as never, registry };
    const plain = new Resolver(getResolver({ networks: [network] }));
    const veramo = createAgent<IResolver & ICredentialPlugin>({
      plugins: [
        new DIDResolverPlugin({ ...getResolver({ networks: [network] }) }),
        new CredentialPlugin([new CredentialProviderJWT()]),
      ],
    });
    const nonceOf = new Map(timed.map((vp, i) => [vp, nonces[WARMUP + i]!]));
    let baselineFailures = 0;
    let veramoError = '';
    const library = async (jwt: string) => {
      const vp = await verifyPresentation(jwt, plain, { domain: audience });
      for (const vc of vp.verifiablePresentation.verifiableCredential ?? []) {
        const proof = (vc as { proof?: { jwt?: string } }).proof;
        await verifyCredential(proof?.jwt ?? String(vc), plain);
      }
    };
    const agent = async (jwt: string) => {
      const vp = await veramo.verifyPresentation({ presentation: jwt, challenge: nonceOf.get(jwt)!, domain: audience });
      if (!vp.verified) {
        baselineFailures++;
        veramoError ||= JSON.stringify(vp.error);
        return;
      }
      const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as {
        vp: { verifiableCredential: string[] };
      };
      for (const vc of payload.vp.verifiableCredential) {
        const r = await veramo.verifyCredential({ credential: vc });
        if (!r.verified) {
          baselineFailures++;
          veramoError ||= JSON.stringify(r.error);
        }
      }
    };
    const oursMeter = new Meter();
    const aMeter = new Meter();
    const bMeter = new Meter();
    let clientCpuUs = 0;
    // CPU of everything each contender makes work, on this machine, per presentation (ms): this verifier = its
    // processes + the load generator + anvil (idle: no chain call on the hot path); a baseline = this process + anvil.
    const verifierPids = processTree(server.pid!);
    const cpuOf = { ours: 0, a: 0, b: 0 };
    const oursSplit = { verifier: 0, client: 0, anvil: 0 };
    const delta = (x: ReturnType<typeof cpuNow>, y: ReturnType<typeof cpuNow>) =>
      y.client - x.client + y.verifier - x.verifier + y.anvil - x.anvil;
    let serverCpuUs = 0; // one replica's, when there are several
    const load0 = loadavg()[0]!;
    const share = PRESENTATIONS / ROUNDS;
    const sampleShare = BASELINE_PRESENTATIONS / ROUNDS;
    for (let r = 0; r < ROUNDS; r++) {
      ctx.progress('rounds', r, ROUNDS);
      const chunk = timed.slice(r * share, (r + 1) * share);
      const c0 = cpuNow(verifierPids, chain.pid);
      const cpu0 = process.cpuUsage();
      const server0 = (await post('/stats', {})).body.cpu as NodeJS.CpuUsage;
      await oursMeter.run(chunk, CONCURRENCY, submit);
      const server1 = (await post('/stats', {})).body.cpu as NodeJS.CpuUsage;
      const cpu = process.cpuUsage(cpu0);
      const c1 = cpuNow(verifierPids, chain.pid);
      cpuOf.ours += delta(c0, c1);
      for (const k of ['verifier', 'client', 'anvil'] as const) oursSplit[k] += c1[k] - c0[k];
      clientCpuUs += cpu.user + cpu.system;
      serverCpuUs += server1.user + server1.system - server0.user - server0.system;
      // Baselines on presentations this verifier just accepted (their nonces are spent; the libraries track none).
      await aMeter.run(chunk.slice(0, sampleShare), BASELINE_CONCURRENCY, library);
      const c2 = cpuNow(verifierPids, chain.pid);
      cpuOf.a += delta(c1, c2);
      await bMeter.run(chunk.slice(0, sampleShare), BASELINE_CONCURRENCY, agent);
      cpuOf.b += delta(c2, cpuNow(verifierPids, chain.pid));
    }
    ctx.progress('rounds', ROUNDS, ROUNDS);
    const load1 = loadavg()[0]!;
    const clientCpuMs = clientCpuUs / 1000 / PRESENTATIONS;
    const stats = (await post('/stats', {})).body;
    post.close();
    if (refused > 0) throw new Error(`${refused} presentations were refused, first: ${firstRefusal}`);
    const ours = oursMeter.result;
    const a = aMeter.result;
    const b = bMeter.result;
    if (baselineFailures > 0) throw new Error(`the Veramo agent refused ${baselineFailures}: ${veramoError}`);

    return {
      bench: 'verify',
      figures: {
        presentations_per_s: Math.round(ours.perSecond),
        p50_ms: Number(ours.p50.toFixed(3)),
        p99_ms: Number(ours.p99.toFixed(3)),
        presentations_per_s_vs_veramo: Math.round(ours.perSecond),
        presentation_requests_per_s: Math.round(requests.perSecond),
        cpu_ms_per_presentation: Number((cpuOf.ours / PRESENTATIONS).toFixed(3)),
        cpu_ms_per_presentation_vs_veramo: Number((cpuOf.ours / PRESENTATIONS).toFixed(3)),
        ...(WORKERS === 1
          ? { server_cpu_ms_per_presentation: Number((serverCpuUs / 1000 / PRESENTATIONS).toFixed(3)) }
          : {}),
      },
      baselines: {
        presentations_per_s: Math.round(a.perSecond),
        p50_ms: Number(a.p50.toFixed(3)),
        p99_ms: Number(a.p99.toFixed(3)),
        presentations_per_s_vs_veramo: Math.round(b.perSecond),
        cpu_ms_per_presentation: Number((cpuOf.a / BASELINE_PRESENTATIONS).toFixed(3)),
        cpu_ms_per_presentation_vs_veramo: Number((cpuOf.b / BASELINE_PRESENTATIONS).toFixed(3)),
      },
      ratios: {
        presentations_per_s: ratio(ours.perSecond, a.perSecond),
        p50_ms: ratio(ours.p50, a.p50, false),
        p99_ms: ratio(ours.p99, a.p99, false),
        presentations_per_s_vs_veramo: ratio(ours.perSecond, b.perSecond),
        cpu_ms_per_presentation: ratio(cpuOf.ours / PRESENTATIONS, cpuOf.a / BASELINE_PRESENTATIONS, false),
        cpu_ms_per_presentation_vs_veramo: ratio(cpuOf.ours / PRESENTATIONS, cpuOf.b / BASELINE_PRESENTATIONS, false),
      },
      machine: ctx.machine,
      notes: [
        `presentations_per_s: POST /presentations answered 200 with an access token, per second of wall-clock time, summed over the ${ROUNDS} timed rounds (${PRESENTATIONS} presentations after ${WARMUP} warm-up), through HTTP on 127.0.0.1, ${CONCURRENCY} in flight over keep-alive connections from a node:http client in this process; the verifier runs in its own process(es). Each presentation: one credential, a fresh nonce obtained beforehand via POST /presentation-requests, every check (presentation and credential signatures, issuer trust, validity periods, status, nonce single use, audience, holder binding, policy) and an ES256K access token in the answer. p50_ms / p99_ms: per-request latency seen by the client at that concurrency`,
        `baseline presentations_per_s: (a) did-jwt-vc 4.0.7 verifyPresentation + verifyCredential per embedded credential, plain ethr-did-resolver 11.0.5 (every DID resolved on the chain), in this process without HTTP (which favours it), ${BASELINE_CONCURRENCY} in flight like this verifier, on ${BASELINE_PRESENTATIONS} of the same presentations (${BASELINE_PRESENTATIONS / ROUNDS} per round, run right after this verifier's share of the round, so machine load weighs on both alike); presentations_per_s_vs_veramo: the same with a Veramo 7.0.1 agent (verifyPresentation with challenge and domain + verifyCredential per embedded credential). Neither baseline checks trust, status, nonce single use or holder binding`,
        `per round, presentations/s: this verifier ${oursMeter.rounds.map((x) => Math.round(x)).join(' / ')}; (a) ${aMeter.rounds.map((x) => Math.round(x)).join(' / ')}; (b) ${bMeter.rounds.map((x) => Math.round(x)).join(' / ')}`,
        `verifier: ${WORKERS === 1 ? 'one process, nonces in memory' : `${WORKERS} replicas under node:cluster, nonces (with the request each was issued for) in Redis, one GETDEL per presentation`}; ES256K signatures and tokens through ${(stats.signatures as { engine?: string }).engine}; load generator CPU ${clientCpuMs.toFixed(3)} ms per presentation${WORKERS === 1 ? `; verifier process CPU ${(serverCpuUs / 1000 / PRESENTATIONS).toFixed(3)} ms per presentation (server_cpu_ms_per_presentation)` : ''}; 1-minute load average ${load0.toFixed(1)} before and ${load1.toFixed(1)} after the timed rounds on ${ctx.machine.cpus} cores (other work on the machine takes cores from every contender)`,
        `cpu_ms_per_presentation: CPU time (user + system, from /proc and process.cpuUsage) spent on this machine per presentation during the timed rounds: for this verifier its process(es) + the load generator (this process) + anvil; for a baseline this process + anvil (its chain calls). Less sensitive to other work than throughput, though contention still inflates it. Not counted: Redis (shared with other work here), the kernel's work outside these processes. This verifier's share: verifier processes ${(oursSplit.verifier / PRESENTATIONS).toFixed(3)}, load generator ${(oursSplit.client / PRESENTATIONS).toFixed(3)}, anvil ${(oursSplit.anvil / PRESENTATIONS).toFixed(3)} ms`,
        `presentation_requests_per_s: POST /presentation-requests (nonce issued and stored) through HTTP, same client, before the timed rounds`,
        `signature paths${WORKERS > 1 ? ' (one replica)' : ''}: ${JSON.stringify(stats.signatures)}; DID cache: ${JSON.stringify(stats.resolver)}`,
      ],
    };
  } finally {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    if (server.connected) server.disconnect();
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    server.kill();
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
