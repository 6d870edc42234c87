/**
 * `npm run bench -- verify`: verified presentations per second THROUGH HTTP. The verifier (router + event-invalidated
 * DID cache + pushed status lists) runs in its own process (verify-http-server.ts), measured in two configurations in
 * the same run: the embedded default (one process, nonces in memory) and, when Redis answers, one replica per core
 * sharing Redis nonces. This process is the load generator (a lean HTTP/1.1 client, CONCURRENCY requests in flight). Each presentation carries one credential and answers a
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
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { statusListEntry, vctOf } from '@tessera/protocol';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { type BenchReport, libsecp256k1, percentile, ratio } from '@tessera/runtime';
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
import type { BenchContext } from '@tessera/runtime';
import type { BenchServerConfig } from './verify-http-server.js';

const HOLDERS = 50;
const WARMUP = 500;
/**
 * Timed presentations per contender (TESSERA_BENCH_PRESENTATIONS overrides). 16,000 since 4,000 made rounds of about one
 * second each, which measured the JIT's warm-up of the request path as much as the path: two trees with the same
 * steady-state cost (equal CPU profiles over long runs) differed by 10% at 4,000 and by noise at 16,000.
 */
const PRESENTATIONS = Number(process.env.TESSERA_BENCH_PRESENTATIONS ?? 16_000);
/**
 * Per contender and round, three times the number in flight: with fewer, the last items of a round run with most of
 * the slots idle, which would understate a baseline that waits on the chain (40 per round at 32 in flight did).
 */
const BASELINE_PRESENTATIONS = 384;
const ROUNDS = 4;
const CONCURRENCY = 32;
/** How long one request may go unanswered before the bench stops with an error. */
const ANSWER_TIMEOUT_MS = 30_000;
// The same number in flight as this verifier gets: the baselines wait on the chain, more concurrency helps them.
const BASELINE_CONCURRENCY = CONCURRENCY;
/** One per core when Redis answers (replicas need it for their shared nonces), else 1. */
async function replicas(): Promise<number> {
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
const TOKEN_STATUS_LIST = 'https://issuer.tessera.bench/status-lists/1/token';
/** SD-JWT VC presentations through OpenID4VP per contender (after a warm-up of a tenth), in ROUNDS rounds. */
const SD_PRESENTATIONS = Number(process.env.TESSERA_BENCH_SD_PRESENTATIONS ?? 2000);
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
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        parsed = { text: body }; // a request object (application/oauth-authz-req+jwt)
      }
      p?.resolve({ status: Number(head.slice(9, 12)), body: parsed });
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
  const send = async (method: string, path: string, data: string, type?: string): Promise<Answer> => {
    const c = await acquire();
    try {
      return await new Promise<Answer>((resolve, reject) => {
        // A verifier that never answers fails the bench with what it was asked, instead of hanging it.
        const timer = setTimeout(() => {
          c.pending = undefined;
          c.socket.destroy();
          reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s to ${method} ${path}`));
        }, ANSWER_TIMEOUT_MS);
        c.pending = {
          resolve: (a) => {
            clearTimeout(timer);
            resolve(a);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        c.socket.write(
          `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${type ? `Content-Type: ${type}\r\n` : ''}Content-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`,
        );
      });
    } finally {
      if (c.socket.destroyed) opened--;
      else release(c);
    }
  };
  const post = (path: string, body: unknown) => send('POST', path, JSON.stringify(body), 'application/json');
  const form = (path: string, fields: Record<string, string>) =>
    send('POST', path, new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded');
  const get = (path: string) => send('GET', path, '');
  const close = () => {
    for (const c of idle) c.socket.destroy();
  };
  return Object.assign(post, { close, form, get });
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

/** A did-jwt ES256K signer on libsecp256k1 (the bench signs 9,000 presentations up front), did-jwt's where it is absent. */
function fastSigner(privateKey: string) {
  const d = new Uint8Array(Buffer.from(privateKey.slice(2), 'hex'));
  if (!libsecp256k1) return ES256KSigner(d);
  const lib = libsecp256k1;
  return async (data: string | Uint8Array) =>
    Buffer.from(lib.ecdsaSign(new Uint8Array(createHash('sha256').update(data).digest()), d).signature).toString(
      'base64url',
    );
}

/** One verifier configuration under test, in its own process(es). */
interface Contender {
  label: string;
  key: string;
  workers: number;
  server: ChildProcess;
  post: ReturnType<typeof client>;
  pids: number[];
  nonces: string[];
  presentations: string[];
  requests?: { perSecond: number };
  meter: Meter;
  cpu: { verifier: number; client: number; anvil: number };
  serverCpuUs: number;
}

function forkVerifier(): ChildProcess {
  return fork(fileURLToPath(new URL('./verify-http-server.ts', import.meta.url)), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [
      ...process.execArgv,
      ...(process.env.TESSERA_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TESSERA_BENCH_PROF}`] : []),
    ],
  });
}

async function stopVerifier(server: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  if (server.connected) server.disconnect();
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
  server.kill();
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  // The embedded default (one process, nonces in memory, as `npm start` runs without TESSERA_REDIS_URL), and when Redis
  // answers also one replica per core sharing Redis nonces (the scale-out configuration). TESSERA_BENCH_VERIFY_WORKERS=N
  // measures only N (1: in memory; more: Redis).
  const only = process.env.TESSERA_BENCH_VERIFY_WORKERS ? Number(process.env.TESSERA_BENCH_VERIFY_WORKERS) : undefined;
  const scaled = Math.max(2, cpus().length);
  const modes = only !== undefined ? [only] : (await replicas()) > 1 ? [1, scaled] : [1];
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-verify-'));
  const chain = await startAnvil({});
  const contenders: Contender[] = [];
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
    const holderSigners = holders.map((h) => fastSigner(h.key));
    const audience = verifierActor.did;

    for (const workers of modes) {
      const config: BenchServerConfig = {
        rpcUrl: chain.rpcUrl,
        wsUrl: chain.wsUrl,
        chainId: chain.chainId,
        registry,
        verifierDid: verifierActor.did,
        verifierKey: verifierActor.key,
        issuerDid: issuer.did,
        statusList: STATUS_LIST,
        tokenStatusList: TOKEN_STATUS_LIST,
        warm: [issuer.did, ...holders.map((h) => h.did)],
        workers,
        ...(process.env.TESSERA_BENCH_REDIS_URL ? { redisUrl: process.env.TESSERA_BENCH_REDIS_URL } : {}),
      };
      const server = forkVerifier();
      const ready = new Promise<number>((resolve, reject) => {
        server.once('message', (m: { port?: number; error?: string }) =>
          m.port ? resolve(m.port) : reject(new Error(`verifier process: ${m.error}`)),
        );
        server.once('exit', (code) => reject(new Error(`verifier process exited (${code})`)));
      });
      server.send(config);
      const post = client(await ready);
      contenders.push({
        label:
          workers === 1
            ? 'one process, nonces in memory (the embedded default)'
            : `${workers} replicas under node:cluster, nonces (with the request each was issued for) in Redis, one GETDEL per presentation`,
        key: workers === 1 ? '' : '_replicas',
        workers,
        server,
        post,
        pids: processTree(server.pid!),
        nonces: [],
        presentations: [],
        meter: new Meter(),
        cpu: { verifier: 0, client: 0, anvil: 0 },
        serverCpuUs: 0,
      });
    }

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

    // Nonces first, through HTTP: each presentation request names the meter the holder's credential is for. Every
    // contender gets the same presentations but for the nonce, which each verifier issues itself.
    const total = WARMUP + PRESENTATIONS;
    const indexes = Array.from({ length: total }, (_, i) => i);
    for (const c of contenders) {
      c.nonces = new Array(total);
      c.requests = await measure(indexes, CONCURRENCY, async (i) => {
        const r = await c.post('/verifier/presentation-requests', {
          resource: `/energy/meters/${meter(i % HOLDERS)}/orders`,
          action: 'POST',
        });
        if (r.status !== 201) throw new Error(`presentation request refused: ${JSON.stringify(r.body)}`);
        c.nonces[i] = r.body.nonce as string;
      });
      for (let i = 0; i < total; i++) {
        const h = i % HOLDERS;
        c.presentations.push(
          await createVerifiablePresentationJwt(
            {
              vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [credentials[h]!] },
            } as never,
            { did: holders[h]!.did, signer: holderSigners[h]!, alg: 'ES256K' },
            { challenge: c.nonces[i]!, domain: audience },
          ),
        );
        if (i % 500 === 499) ctx.progress(`signing presentations${c.key}`, i + 1, total);
      }
    }

    let refused = 0;
    let firstRefusal = '';
    const submit = (c: Contender) => async (vp: string) => {
      const r = await c.post('/verifier/presentations', { vp });
      if (r.status !== 200 || typeof r.body.access_token !== 'string') {
        refused++;
        firstRefusal ||= JSON.stringify(r.body);
      }
    };
    for (const c of contenders) {
      ctx.progress(`warm-up${c.key}`, 0, 1);
      await measure(c.presentations.slice(0, WARMUP), CONCURRENCY, submit(c));
    }
    // Rounds interleave the contenders, so that other work on the machine weighs on all of them alike: in each round
    // each configuration of this verifier takes its share of the timed presentations, then both baselines verify the
    // first of the embedded default's share.
    const timed = contenders[0]!.presentations.slice(WARMUP);
    const network = { name: '0x7a69', chainId: chain.chainId, provider: provider as never, registry };
    const plain = new Resolver(getResolver({ networks: [network] }));
    const veramo = createAgent<IResolver & ICredentialPlugin>({
      plugins: [
        new DIDResolverPlugin({ ...getResolver({ networks: [network] }) }),
        new CredentialPlugin([new CredentialProviderJWT()]),
      ],
    });
    const nonceOf = new Map(timed.map((vp, i) => [vp, contenders[0]!.nonces[WARMUP + i]!]));
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
    const aMeter = new Meter();
    const bMeter = new Meter();
    // CPU of everything each contender makes work, on this machine, per presentation (ms): this verifier = its
    // processes + the load generator + anvil (idle: no chain call on the hot path); a baseline = this process + anvil.
    const allPids = contenders.flatMap((c) => c.pids);
    const cpuOf = { a: 0, b: 0 };
    const delta = (x: ReturnType<typeof cpuNow>, y: ReturnType<typeof cpuNow>) =>
      y.client - x.client + y.verifier - x.verifier + y.anvil - x.anvil;
    const load0 = loadavg()[0]!;
    const share = PRESENTATIONS / ROUNDS;
    const sampleShare = BASELINE_PRESENTATIONS / ROUNDS;
    for (let r = 0; r < ROUNDS; r++) {
      ctx.progress('rounds', r, ROUNDS);
      for (const c of contenders) {
        const chunk = c.presentations.slice(WARMUP + r * share, WARMUP + (r + 1) * share);
        const server0 = (await c.post('/stats', {})).body.cpu as NodeJS.CpuUsage;
        const c0 = cpuNow(c.pids, chain.pid);
        await c.meter.run(chunk, CONCURRENCY, submit(c));
        const c1 = cpuNow(c.pids, chain.pid);
        const server1 = (await c.post('/stats', {})).body.cpu as NodeJS.CpuUsage;
        for (const k of ['verifier', 'client', 'anvil'] as const) c.cpu[k] += c1[k] - c0[k];
        c.serverCpuUs += server1.user + server1.system - server0.user - server0.system;
      }
      // Baselines on presentations this verifier just accepted (their nonces are spent; the libraries track none).
      const sample = timed.slice(r * share, r * share + sampleShare);
      const c1 = cpuNow(allPids, chain.pid);
      await aMeter.run(sample, BASELINE_CONCURRENCY, library);
      const c2 = cpuNow(allPids, chain.pid);
      cpuOf.a += delta(c1, c2);
      await bMeter.run(sample, BASELINE_CONCURRENCY, agent);
      cpuOf.b += delta(c2, cpuNow(allPids, chain.pid));
    }
    ctx.progress('rounds', ROUNDS, ROUNDS);

    // SD-JWT VCs through the OpenID4VP endpoint, on the same verifier processes: each holder's EnergyProsumerCredential
    // as an SD-JWT VC (every claim disclosable, bound to the holder's DID key, a Token Status List entry). Per
    // presentation, untimed: POST /oid4vp/requests, GET the signed request object, an SD-JWT disclosing only the meter
    // with a KB-JWT for its nonce and client id. Timed: POST /oid4vp/response/{id} (direct_post), answered 200 once the
    // SD-JWT (issuer signature, digests, validity, status), the KB-JWT (holder signature, nonce, audience, sd_hash),
    // the DCQL match, the nonce's single use and the policy are checked and an access token is issued.
    const sha256 = (data: string | ArrayBuffer, alg: string) => {
      if (alg !== 'sha-256') throw new Error(alg);
      return new Uint8Array(
        createHash('sha256')
          .update(typeof data === 'string' ? data : Buffer.from(data))
          .digest(),
      );
    };
    const issuing = new SDJwtVcInstance({
      signer: (d: string) => issuer.signer(d) as Promise<string>,
      signAlg: 'ES256K',
      hasher: sha256,
      hashAlg: 'sha-256',
      saltGenerator: () => randomBytes(16).toString('base64url'),
    });
    const sdCredentials = await Promise.all(
      holders.map((h, i) =>
        issuing.issue(
          {
            iss: issuer.did,
            vct: vctOf('EnergyProsumerCredential'),
            iat: now - 60,
            exp: now + 3600,
            cnf: { kid: `${h.did}#controller` },
            status: { status_list: { idx: i, uri: TOKEN_STATUS_LIST } },
            meterId: meter(i),
            role: 'consumer',
          },
          { _sd: ['meterId', 'role'] } as never,
          { header: { typ: 'dc+sd-jwt', kid: `${issuer.did}#controller` } },
        ),
      ),
    );
    const sdTotal = SD_PRESENTATIONS + SD_PRESENTATIONS / 10;
    const sdResults: { key: string; perSecond: number; p50: number; p99: number; rounds: number[] }[] = [];
    for (const c of contenders) {
      const items: { path: string; fields: Record<string, string> }[] = [];
      for (let i = 0; i < sdTotal; i++) {
        const h = i % HOLDERS;
        const created = await c.post('/verifier/oid4vp/requests', {
          resource: `/energy/meters/${meter(h)}/orders`,
          action: 'POST',
        });
        if (created.status !== 201) throw new Error(`OpenID4VP request refused: ${JSON.stringify(created.body)}`);
        const uri = new URL(String(created.body.request_uri));
        const object = await c.post.get(uri.pathname);
        const req = JSON.parse(Buffer.from(String(object.body.text).split('.')[1]!, 'base64url').toString()) as Record<
          string,
          string
        >;
        const holding = new SDJwtVcInstance({
          hasher: sha256,
          kbSigner: (d: string) => holderSigners[h]!(d) as Promise<string>,
          kbSignAlg: 'ES256K',
        });
        const presentation = await holding.present(sdCredentials[h]!, { meterId: true } as never, {
          kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: req.client_id!, nonce: req.nonce! } as never },
        });
        items.push({
          path: new URL(req.response_uri!).pathname,
          fields: { vp_token: JSON.stringify({ req0_sd: [presentation] }), state: req.state! },
        });
        if (i % 250 === 249) ctx.progress(`OpenID4VP requests and SD-JWT presentations${c.key}`, i + 1, sdTotal);
      }
      let sdRefused = 0;
      let sdFirst = '';
      const answer = async (item: { path: string; fields: Record<string, string> }) => {
        const r = await c.post.form(item.path, item.fields);
        if (r.status !== 200 || typeof r.body.redirect_uri !== 'string') {
          sdRefused++;
          sdFirst ||= JSON.stringify(r.body);
        }
      };
      await measure(items.slice(0, sdTotal - SD_PRESENTATIONS), CONCURRENCY, answer);
      const sdMeter = new Meter();
      const timedItems = items.slice(sdTotal - SD_PRESENTATIONS);
      const sdShare = SD_PRESENTATIONS / ROUNDS;
      for (let r = 0; r < ROUNDS; r++)
        await sdMeter.run(timedItems.slice(r * sdShare, (r + 1) * sdShare), CONCURRENCY, answer);
      if (sdRefused > 0) throw new Error(`${sdRefused} SD-JWT presentations were refused, first: ${sdFirst}`);
      sdResults.push({ key: c.key, ...sdMeter.result, rounds: sdMeter.rounds });
    }
    const load1 = loadavg()[0]!;
    const stats = await Promise.all(contenders.map(async (c) => (await c.post('/stats', {})).body));
    for (const c of contenders) c.post.close();
    if (refused > 0) throw new Error(`${refused} presentations were refused, first: ${firstRefusal}`);
    if (baselineFailures > 0) throw new Error(`the Veramo agent refused ${baselineFailures}: ${veramoError}`);
    const a = aMeter.result;
    const b = bMeter.result;
    const aCpu = cpuOf.a / BASELINE_PRESENTATIONS;
    const bCpu = cpuOf.b / BASELINE_PRESENTATIONS;
    const figures: Record<string, number> = {};
    const baselines: Record<string, number> = {};
    const ratios: Record<string, number> = {};
    for (const c of contenders) {
      const ours = c.meter.result;
      const cpu = (c.cpu.verifier + c.cpu.client + c.cpu.anvil) / PRESENTATIONS;
      const k = c.key;
      Object.assign(figures, {
        [`presentations_per_s${k}`]: Math.round(ours.perSecond),
        [`p50_ms${k}`]: Number(ours.p50.toFixed(3)),
        [`p99_ms${k}`]: Number(ours.p99.toFixed(3)),
        [`presentations_per_s${k}_vs_veramo`]: Math.round(ours.perSecond),
        [`cpu_ms_per_presentation${k}`]: Number(cpu.toFixed(3)),
      });
      Object.assign(baselines, {
        [`presentations_per_s${k}`]: Math.round(a.perSecond),
        [`p50_ms${k}`]: Number(a.p50.toFixed(3)),
        [`p99_ms${k}`]: Number(a.p99.toFixed(3)),
        [`presentations_per_s${k}_vs_veramo`]: Math.round(b.perSecond),
        [`cpu_ms_per_presentation${k}`]: Number(aCpu.toFixed(3)),
      });
      Object.assign(ratios, {
        [`presentations_per_s${k}`]: ratio(ours.perSecond, a.perSecond),
        [`p50_ms${k}`]: ratio(ours.p50, a.p50, false),
        [`p99_ms${k}`]: ratio(ours.p99, a.p99, false),
        [`presentations_per_s${k}_vs_veramo`]: ratio(ours.perSecond, b.perSecond),
        [`cpu_ms_per_presentation${k}`]: ratio(cpu, aCpu, false),
      });
      figures[`presentation_requests_per_s${k}`] = Math.round(c.requests!.perSecond);
      if (c.workers === 1)
        figures.server_cpu_ms_per_presentation = Number((c.serverCpuUs / 1000 / PRESENTATIONS).toFixed(3));
    }
    for (const r of sdResults) {
      figures[`sd_jwt_presentations_per_s${r.key}`] = Math.round(r.perSecond);
      figures[`sd_jwt_p50_ms${r.key}`] = Number(r.p50.toFixed(3));
      figures[`sd_jwt_p99_ms${r.key}`] = Number(r.p99.toFixed(3));
    }
    figures.cpu_ms_per_presentation_vs_veramo = figures.cpu_ms_per_presentation!;
    baselines.cpu_ms_per_presentation_vs_veramo = Number(bCpu.toFixed(3));
    ratios.cpu_ms_per_presentation_vs_veramo = ratio(figures.cpu_ms_per_presentation!, bCpu, false);
    const per = (m: Meter) => m.rounds.map((x) => Math.round(x)).join(' / ');

    return {
      bench: 'verify',
      figures,
      baselines,
      ratios,
      machine: ctx.machine,
      notes: [
        `presentations_per_s: POST /presentations answered 200 with an access token, per second of wall-clock time, summed over the ${ROUNDS} timed rounds (${PRESENTATIONS} presentations after ${WARMUP} warm-up), through HTTP on 127.0.0.1, ${CONCURRENCY} in flight over keep-alive connections from a lean HTTP/1.1 client in this process; the verifier runs in its own process(es). Each presentation: one credential, a fresh nonce obtained beforehand via POST /presentation-requests, every check (presentation and credential signatures, issuer trust, validity periods, status, nonce single use, audience, holder binding, policy) and an ES256K access token signed with the verifier DID key in the answer. p50_ms / p99_ms: per-request latency seen by the client at that concurrency`,
        `sd_jwt_presentations_per_s: SD-JWT VCs through the OpenID4VP response endpoint (POST /verifier/oid4vp/response/{id}, direct_post) answered 200, ${SD_PRESENTATIONS} after ${SD_PRESENTATIONS / 10} warm-up in ${ROUNDS} rounds after the JWT rounds, same verifier processes, ${CONCURRENCY} in flight; per presentation the request (POST /oid4vp/requests) and its signed request object (GET) were obtained beforehand, and the SD-JWT discloses only the meter with a KB-JWT for the request's nonce and client id. Each: issuer signature, disclosure digests, validity, Token Status List, KB-JWT signature, nonce, audience and sd_hash, the DCQL match, the request's single use, the policy and an access token. Rounds: ${sdResults.map((r) => `${r.key || 'one process'} ${r.rounds.map((x) => Math.round(x)).join(', ')}/s`).join('; ')}. No baseline library verifies SD-JWT VC presentations over OpenID4VP; the JWT figures and both baselines above are of the same run`,
        `figures without suffix: ${contenders[0]!.label}${contenders[1] ? `; figures named …${contenders[1].key}: ${contenders[1].label}` : ''}`,
        `baseline presentations_per_s: (a) did-jwt-vc 4.0.7 verifyPresentation + verifyCredential per embedded credential, plain ethr-did-resolver 11.0.5 (every DID resolved on the chain), in this process without HTTP (which favours it), ${BASELINE_CONCURRENCY} in flight like this verifier, on ${BASELINE_PRESENTATIONS} of the same presentations (${sampleShare} per round, run right after this verifier's share of the round, so machine load weighs on all alike); …_vs_veramo: the same with a Veramo 7.0.1 agent (verifyPresentation with challenge and domain + verifyCredential per embedded credential). Neither baseline checks trust, status, nonce single use or holder binding`,
        `per round, presentations/s: ${contenders.map((c) => `this verifier${c.key ? ` (${c.workers} replicas)` : ''} ${per(c.meter)}`).join('; ')}; (a) ${per(aMeter)}; (b) ${per(bMeter)}`,
        `cpu_ms_per_presentation: CPU time (user + system, from /proc and process.cpuUsage) spent on this machine per presentation during the timed rounds: for this verifier its process(es) + the load generator (this process) + anvil; for a baseline this process + anvil (its chain calls). Less sensitive to other work than throughput, though contention still inflates it. Not counted: Redis (shared with other work here), the kernel's work outside these processes. Split, ms per presentation: ${contenders.map((c) => `${c.key || 'one process'}: verifier ${(c.cpu.verifier / PRESENTATIONS).toFixed(3)}, load generator ${(c.cpu.client / PRESENTATIONS).toFixed(3)}, anvil ${(c.cpu.anvil / PRESENTATIONS).toFixed(3)}`).join('; ')}${contenders[0]!.workers === 1 ? `; server_cpu_ms_per_presentation: the one process's own count (process.cpuUsage) ${figures.server_cpu_ms_per_presentation}` : ''}`,
        `ES256K signatures and tokens through ${(stats[0]!.signatures as { engine?: string }).engine}; 1-minute load average ${load0.toFixed(1)} before and ${load1.toFixed(1)} after the timed rounds on ${ctx.machine.cpus} cores (other work on the machine takes cores from every contender)`,
        `presentation_requests_per_s: POST /presentation-requests (nonce issued and stored) through HTTP, same client, before the timed rounds`,
        ...contenders.map(
          (c, i) =>
            `signature paths${c.key ? ` (one of the replicas)` : ''}: ${JSON.stringify(stats[i]!.signatures)}; DID cache: ${JSON.stringify(stats[i]!.resolver)}`,
        ),
      ],
    };
  } finally {
    for (const c of contenders) await stopVerifier(c.server);
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
