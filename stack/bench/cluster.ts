/**
 * `npm run bench -- cluster`: the stack as replicas behind HAProxy (1, 2 and 3 replicas, each its own process, on this
 * machine's PostgreSQL and Redis, a Mosquitto 2 with dynamic security and an anvil: startCluster, what
 * `npm run cluster` runs), against the single process `npm start` runs on its embedded defaults (SQLite, nonces in
 * memory, the embedded aedes broker and anvil) as the baseline, in the same run, with the same load:
 * - presentations/s: POST /verifier/presentations through the load balancer (nonces fetched and presentations signed
 *   beforehand; each one verified, evaluated against its policy and answered with an access token);
 * - handshakes/s: devices (connected to the broker) running full challenge handshakes back to back, answered by the
 *   replicas' handshake responders (one per hello: they share a subscription group on Mosquitto);
 * - revocation propagation: a revocation through the load balancer, then every replica's /verifier/verify polled
 *   directly until it refuses; the time until the last replica refuses, p50/p99 over the rounds.
 * The load generator (this process) shares the machine's cores with everything it measures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { DeviceAgent, type DeviceIdentity, DeviceKeyStore } from '@tessera/device-agent';
import { ethrDid, silentLogger } from '@tessera/protocol';
import { type BenchContext, type BenchReport, BenchUnavailable, percentile, ratio } from '@tessera/runtime';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Wallet } from 'ethers';
import { freePort, haproxyBinary, startCluster } from '../src/cluster.js';

const HOLDERS = 20;
const PRESENTATIONS = 600;
const CONCURRENCY = 32;
const DEVICES = 40;
/** Per device: the handshake limiter allows 30 attempts a minute per device, two per handshake. */
const HANDSHAKES_PER_DEVICE = 12;
const ROUNDS = 20;
const CHAIN_ID = 31337;

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
type Json = Record<string, any>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Target {
  label: string;
  /** Where clients go (the load balancer, or the single process). */
  url: string;
  /** Each replica's own URL (for the propagation measurement). */
  replicas: string[];
  mqtt: string;
  rootAdminWallet: string;
  stop(): Promise<void>;
}

interface Figures {
  presentations: number;
  handshakes: number;
  revocationP50: number;
  revocationP99: number;
}

async function post(url: string, body: unknown, bearer?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/**
 * A POST from another loopback source address (127.0.0.2 and up): the verifier budgets presentation requests per
 * source address (120 a minute, each process its own), and fetching nonces is the set-up, not what is measured.
 */
function postFrom(url: string, body: unknown, localAddress: string): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** `npm start` alone on a fresh data directory: the embedded defaults, one process. */
async function startSingle(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-single-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '../src/main.ts')],
    {
      env: {
        // the embedded defaults: none of the shared engines this shell may name
        ...Object.fromEntries(
          Object.entries(process.env).filter(
            ([k]) =>
              !/^TESSERA_(DATABASE_URL|REDIS_URL|MQTT_URL|MQTT_ADMIN_\w+|CHAIN_\w+|MASTER_KEY|PUBLIC_URL)$/.test(k),
          ),
        ),
        TESSERA_DATA_DIR: dir,
        TESSERA_HTTP_PORT: String(port),
        TESSERA_MQTT_PORT: '0',
        TESSERA_HOST: '127.0.0.1',
        TESSERA_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out = (out + c).slice(-20_000)));
  const deadline = Date.now() + 120_000;
  while (!/tessera ready/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the single stack did not start: ${out}`);
    await sleep(50);
  }
  const mqtt = /mqtt (mqtt:\/\/\S+)/.exec(out)![1]!;
  const url = `http://127.0.0.1:${port}`;
  return {
    label: 'single process',
    url,
    replicas: [url],
    mqtt,
    rootAdminWallet: join(dir, 'root-admin-wallet.json'),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

async function startReplicas(n: number): Promise<Target> {
  const c = await startCluster({ replicas: n, loadBalancer: {}, env: { TESSERA_LOG_LEVEL: 'warn' } });
  return {
    label: `${n} replica${n > 1 ? 's' : ''} + HAProxy`,
    url: c.url,
    replicas: c.replicas.map((r) => r.http),
    mqtt: c.mqtt.url,
    rootAdminWallet: c.rootAdminWallet,
    stop: () => c.stop(),
  };
}

async function measure(t: Target, ctx: BenchContext): Promise<Figures> {
  const issuer = `${t.url}/issuer`;
  const admin = await loginWithCredentials(issuer, readHolderFile(t.rootAdminWallet));
  const holder = async (type: string, claims: Json, key = Wallet.createRandom()) => {
    const did = ethrDid(CHAIN_ID, key.address);
    const r = await issuerRequest(issuer, 'POST', '/credentials', {
      token: admin,
      body: { type, subject: did, claims },
    });
    if (r.status !== 201) throw new Error(`issue ${type}: ${r.status} ${r.text}`);
    return {
      key: { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } as HolderKey,
      id: r.json.id,
    };
  };

  // ---- presentations/s
  const holders = await Promise.all(
    Array.from({ length: HOLDERS }, (_, i) =>
      holder('EnergyProsumerCredential', { meterId: `BENCH-${i}`, role: 'consumer' }).then((h) => ({ ...h, i })),
    ),
  );
  const vps: string[] = new Array(PRESENTATIONS);
  await pool(
    Array.from({ length: PRESENTATIONS }, (_, i) => i),
    16,
    async (i) => {
      const h = holders[i % HOLDERS]!;
      // at each replica in turn (the nonces are shared), from 100 requests per source address
      const at = t.replicas[i % t.replicas.length]!;
      const req = await postFrom(
        `${at}/verifier/presentation-requests`,
        { resource: `/energy/meters/BENCH-${h.i}/orders`, action: 'POST' },
        `127.0.0.${2 + Math.floor(i / 100)}`,
      );
      if (req.status !== 201) throw new Error(`presentation request: ${req.status} ${JSON.stringify(req.body)}`);
      vps[i] = await createVerifiablePresentationJwt(
        {
          vp: {
            '@context': ['https://www.w3.org/2018/credentials/v1'],
            type: ['VerifiablePresentation'],
            verifiableCredential: h.key.credentials,
          },
        } as never,
        { did: h.key.did, signer: ES256KSigner(hexToBytes(h.key.privateKey)), alg: 'ES256K' },
        { challenge: String(req.body.nonce), domain: String(req.body.audience) },
      );
    },
  );
  const warm = Math.floor(PRESENTATIONS / 10);
  let done = 0;
  const present = async (vp: string) => {
    const r = await post(`${t.url}/verifier/presentations`, { vp });
    if (r.status !== 200) throw new Error(`presentation: ${r.status} ${JSON.stringify(r.body)}`);
    ctx.progress(`${t.label}: presentations`, ++done, PRESENTATIONS);
  };
  await pool(vps.slice(0, warm), CONCURRENCY, present);
  const p0 = performance.now();
  await pool(vps.slice(warm), CONCURRENCY, present);
  const presentations = (PRESENTATIONS - warm) / ((performance.now() - p0) / 1000);

  // ---- handshakes/s: register, enrol and commission DEVICES devices, connect them, then handshakes back to back
  const manufacturer = await loginWithCredentials(
    issuer,
    (await holder('ManufacturerCredential', { legalName: 'Bench Meters SA', country: 'FR', manufacturerCode: 'BEN' }))
      .key,
  );
  const ownerKey = Wallet.createRandom();
  const ownerDid = ethrDid(CHAIN_ID, ownerKey.address);
  const registered = await issuerRequest(issuer, 'POST', '/devices/batches', {
    token: manufacturer,
    body: {
      devices: Array.from({ length: DEVICES }, (_, i) => ({
        owner: ownerDid,
        characteristics: {
          model: 'BENCH-1',
          serial: `BENCH-${i}-${randomBytes(3).toString('hex')}`,
          hardwareRevision: 'r1',
          firmwareHash: randomBytes(32).toString('hex'),
          mac: randomBytes(6).toString('hex'),
        },
      })),
    },
  });
  if (registered.status !== 201) throw new Error(`device batch: ${registered.status} ${registered.text}`);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-devices-'));
  const agents: DeviceAgent[] = [];
  try {
    const identities: DeviceIdentity[] = [];
    const enrolled = (registered.json.devices as Json[]).map((d, i) => {
      const store = DeviceKeyStore.open(join(dir, `d${i}`));
      return { store, ...store.enrol(d.provisioning) };
    });
    // the owner signs in with the DeviceOwnerCredentials of five devices at a time and commissions them
    const ownerCredentials: string[] = [];
    for (const e of enrolled)
      ownerCredentials.push((await holder('DeviceOwnerCredential', { device: e.did }, ownerKey)).key.credentials[0]!);
    const ownerTokens: string[] = [];
    for (let g = 0; g < enrolled.length; g += 5)
      ownerTokens.push(
        await loginWithCredentials(issuer, {
          did: ownerDid,
          privateKey: ownerKey.privateKey,
          credentials: ownerCredentials.slice(g, g + 5),
        }),
      );
    await pool(enrolled, 4, async (e, i) => {
      const r = await issuerRequest(issuer, 'POST', `/devices/${e.deviceId}/commission`, {
        token: ownerTokens[Math.floor(i / 5)]!,
        body: { identity: e.did },
      });
      if (r.status !== 200) throw new Error(`commission: ${r.status} ${r.text}`);
      const { brokerUrl: _b, ...identity } = e.store.load();
      identities.push(identity);
    });
    await Promise.all(
      identities.map(async (identity) => {
        const a = new DeviceAgent({
          identity,
          brokerUrl: t.mqtt,
          backoff: { initialMs: 50, maxMs: 500 },
          handshakeTimeoutMs: 15_000,
          log: silentLogger,
        });
        agents.push(a);
        const session = new Promise((r) => a.once('session', r));
        a.start();
        await session;
      }),
    );
    let hs = 0;
    const total = DEVICES * HANDSHAKES_PER_DEVICE;
    const h0 = performance.now();
    await Promise.all(
      agents.map(async (a) => {
        for (let k = 0; k < HANDSHAKES_PER_DEVICE; k++) {
          const o = await a.handshake();
          if (!o.ok) throw new Error(`handshake refused: ${o.code}`);
          ctx.progress(`${t.label}: handshakes`, ++hs, total);
        }
      }),
    );
    const handshakes = total / ((performance.now() - h0) / 1000);

    // ---- revocation propagation: revoke through the load balancer, poll every replica until it refuses
    const operator = await loginWithCredentials(issuer, (await holder('OperatorCredential', { name: 'Bench' })).key);
    const times: number[] = [];
    const subject = Wallet.createRandom();
    for (let i = 0; i < ROUNDS; i++) {
      const h = await holder('EnergyProsumerCredential', { meterId: `REV-${i}`, role: 'consumer' }, subject);
      const jwt = h.key.credentials[0]!;
      for (const r of t.replicas) {
        const ok = await post(`${r}/verifier/verify`, { jwt });
        if (ok.status !== 200) throw new Error(`verify before revoke: ${JSON.stringify(ok.body)}`);
      }
      const revoked = await issuerRequest(issuer, 'POST', `/credentials/${h.id}/revoke`, { token: operator });
      if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status} ${revoked.text}`);
      const t0 = performance.now();
      const arrivals = await Promise.all(
        t.replicas.map(async (r) => {
          for (;;) {
            const v = await post(`${r}/verifier/verify`, { jwt });
            if (v.status !== 200) return performance.now() - t0;
            if (performance.now() - t0 > 10_000) throw new Error(`${r} still accepts a revoked credential after 10 s`);
            await sleep(2);
          }
        }),
      );
      times.push(Math.max(...arrivals));
      ctx.progress(`${t.label}: revocations`, i + 1, ROUNDS);
    }
    times.sort((a, b) => a - b);
    return {
      presentations,
      handshakes,
      revocationP50: percentile(times, 50),
      revocationP99: percentile(times, 99),
    };
  } finally {
    for (const a of agents) await a.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  if (!haproxyBinary())
    throw new BenchUnavailable('HAProxy is not installed (apt-get install haproxy): the replicas stand behind it');
  const results: { label: string; n: number; f: Figures }[] = [];
  for (const n of [0, 1, 2, 3]) {
    const t = n === 0 ? await startSingle() : await startReplicas(n);
    try {
      process.stderr.write(`${t.label}: measuring…\n`);
      const f = await measure(t, ctx);
      process.stderr.write(
        `${t.label}: ${f.presentations.toFixed(0)} presentations/s, ${f.handshakes.toFixed(0)} handshakes/s, revocation p50 ${f.revocationP50.toFixed(1)} ms p99 ${f.revocationP99.toFixed(1)} ms\n`,
      );
      results.push({ label: t.label, n, f });
    } finally {
      await t.stop();
    }
  }
  const single = results[0]!.f;
  const figures: Record<string, number> = {};
  const baselines: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  const round = (x: number) => Math.round(x * 10) / 10;
  for (const { n, f } of results.slice(1)) {
    for (const [name, ours, base, higher] of [
      ['presentations_per_s', f.presentations, single.presentations, true],
      ['handshakes_per_s', f.handshakes, single.handshakes, true],
      ['revocation_propagation_p99_ms', f.revocationP99, single.revocationP99, false],
      ['revocation_propagation_p50_ms', f.revocationP50, single.revocationP50, false],
    ] as const) {
      const key = `replicas_${n}.${name}`;
      figures[key] = round(ours);
      baselines[key] = round(base);
      ratios[key] = ratio(ours, base, higher);
    }
  }
  const r = (n: number) => results.find((x) => x.n === n)!.f;
  return {
    bench: 'cluster',
    figures,
    baselines,
    ratios,
    machine: ctx.machine,
    notes: [
      'what it predicts for a machine per replica: presentations are verified on the CPU of the replica that takes them (the nonce is one Redis round trip), so they scale with replicas until PostgreSQL or Redis saturate; handshakes all go through the one Mosquitto, whose dynamic-security plugin applies every grant as a rewrite of its JSON file, one after another, so handshakes/s are bounded by the broker, not by the replicas; revocation propagation is one Redis message plus each replica refetching and checking the changed list, which on separate machines no longer waits behind the other replicas',
      `baseline: one \`npm start\` process on its embedded defaults (SQLite, nonces in memory, aedes, embedded anvil), same load, same run; replicas: each its own process on PostgreSQL, Redis, Mosquitto (dynamic security) and an anvil, behind HAProxy (round robin); ${cpus().length} cores shared by all of them and the load generator`,
      `load: ${PRESENTATIONS - Math.floor(PRESENTATIONS / 10)} presentations at ${CONCURRENCY} in flight; ${DEVICES} devices × ${HANDSHAKES_PER_DEVICE} handshakes back to back; ${ROUNDS} revocations, time until every replica's /verify refuses (polled every 2 ms)`,
      `presentations/s single ${single.presentations.toFixed(0)}, 1/2/3 replicas ${r(1).presentations.toFixed(0)}/${r(2).presentations.toFixed(0)}/${r(3).presentations.toFixed(0)}; handshakes/s single ${single.handshakes.toFixed(0)}, ${r(1).handshakes.toFixed(0)}/${r(2).handshakes.toFixed(0)}/${r(3).handshakes.toFixed(0)}; revocation p99 single ${single.revocationP99.toFixed(1)} ms, ${r(1).revocationP99.toFixed(1)}/${r(2).revocationP99.toFixed(1)}/${r(3).revocationP99.toFixed(1)} ms`,
    ],
  };
}
