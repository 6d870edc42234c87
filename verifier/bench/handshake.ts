/**
 * Device handshakes (issue 5): handshakes per second and latency at a fixed offered load, with devices, the aedes
 * broker (real TCP), the responder and anvil all on this machine; the naive baseline in the same run; and
 * revocation-to-disconnect latency (operator transaction sent → the device's MQTT connection closed).
 *
 * Baseline (issue 5): per handshake, verify a did-jwt signed response with plain ethr-did-resolver and no cache
 * (did-jwt `verifyJWT` resolving the device DID on chain every time). It is measured in process, without the MQTT
 * round trips our figure includes, so the ratio understates our advantage.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  buildDeviceBatch,
  DeviceRegistry__factory,
  ensureDeployed,
  makeProvider,
  readDeviceStatus,
  startAnvil,
} from '@tessera/contracts';
import { answerChallenge, createHello, type DeviceIdentity } from '@tessera/device-agent';
import {
  type BenchReport,
  deriveBrokerPassword,
  deviceFingerprint,
  deviceIdOf,
  generateDeviceSecret,
  parseHandshakeMessage,
  percentile,
  ratio,
  secretCommitment,
  topics,
} from '@tessera/protocol';
import { createJWT, ES256KSigner, verifyJWT } from 'did-jwt';
import { Resolver } from 'did-resolver';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import { connect, type MqttClient } from 'mqtt';
import type { BenchContext } from '../../scripts/bench.js';
import { AedesBrokerAdapter } from '../src/broker/aedes.js';
import { MemoryHandshakeLimiter } from '../src/handshake/limiter.js';
import { HandshakeResponder } from '../src/handshake/responder.js';
import { DeviceStateWatcher, dropSessionsOnRevocation } from '../src/handshake/revocation-watcher.js';
import { DeviceStatusCache } from '../src/handshake/status-cache.js';
import { FileDeviceSecretVault } from '../src/handshake/vault.js';
import { CachedDidResolver } from '../src/resolver/cached-resolver.js';
import { RegistryWatcher } from '../src/resolver/registry-watcher.js';
import { MemoryNonceStore } from '../src/vc/nonce-store.js';

const DEVICES = 100;
const THROUGHPUT_MS = 4000;
const OFFERED_PER_S = 200;
const OFFERED_MS = 4000;
const REVOCATIONS = 40;
const BASELINE_MS = 3000;

/** One connected device that can run handshakes back to back (one in flight at a time). */
class BenchDevice {
  private waiting: ((topic: string, payload: Buffer) => void) | undefined;
  constructor(
    readonly id: DeviceIdentity,
    readonly client: MqttClient,
  ) {
    client.on('message', (topic, payload) => this.waiting?.(topic, payload));
  }

  static async connect(url: string, id: DeviceIdentity): Promise<BenchDevice> {
    const client = connect(url, {
      protocolVersion: 4,
      clientId: id.deviceId,
      username: id.deviceId,
      password: deriveBrokerPassword(id.secret),
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync([topics.handshake(id.deviceId, 'challenge'), topics.handshake(id.deviceId, 'result')], {
      qos: 1,
    });
    return new BenchDevice(id, client);
  }

  /** One full handshake; resolves with its latency in ms (throws if it was not granted). */
  handshake(): Promise<number> {
    const t0 = performance.now();
    const hello = createHello(this.id);
    return new Promise<number>((resolve, reject) => {
      this.waiting = (topic, payload) => {
        if (topic.endsWith('/challenge')) {
          const c = parseHandshakeMessage('challenge', payload);
          if (!c.ok) return reject(new Error('bad challenge'));
          const a = answerChallenge(this.id, hello, c.value);
          if (!a.ok) return reject(new Error(a.error.code));
          this.client.publish(topics.handshake(this.id.deviceId, 'response'), JSON.stringify(a.value.response), {
            qos: 1,
          });
        } else {
          const r = parseHandshakeMessage('result', payload);
          this.waiting = undefined;
          if (r.ok && r.value.ok) resolve(performance.now() - t0);
          else reject(new Error(`denied: ${r.ok && !r.value.ok ? r.value.code : 'malformed'}`));
        }
      };
      this.client.publish(topics.handshake(this.id.deviceId, 'hello'), JSON.stringify(hello), { qos: 1 });
    });
  }
}

/** Closed loop: every worker runs operations back to back for `ms`. */
async function closedLoop(workers: number, ms: number, op: (w: number) => Promise<number>) {
  const lat: number[] = [];
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < end) lat.push(await op(w));
    }),
  );
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSecond: lat.length / s, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** Open loop at a fixed offered rate: start one operation every 1000/rate ms whatever the previous ones do. */
async function openLoop(rate: number, ms: number, op: (i: number) => Promise<number>) {
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const total = Math.round((rate * ms) / 1000);
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      op(i).then((l) => {
        lat.push(l);
      }),
    );
  }
  await Promise.all(pending);
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
}

const trace = (m: string) => process.env.TESSERA_BENCH_TRACE && console.error(`[handshake] ${m}`);

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-hs-'));
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const admin = new Wallet(ANVIL_FUNDER_KEY, provider);
  const broker = new AedesBrokerAdapter({ port: 0 });
  const cleanup: (() => unknown)[] = [];
  try {
    const addresses = await ensureDeployed({
      provider,
      deployer: admin,
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const sender = new NonceManager(admin);
    const registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, sender);
    await (await registry.grantRole(await registry.MANUFACTURER(), admin.address)).wait();
    await (await registry.grantRole(await registry.OPERATOR(), admin.address)).wait();

    // ---------------------------------------------------------------- devices: one batch, commissioned
    const vault = new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32));
    const ids: DeviceIdentity[] = [];
    const leaves = [];
    for (let i = 0; i < DEVICES + REVOCATIONS; i++) {
      const serial = `BENCH-${i}`;
      const fp = deviceFingerprint({
        model: 'SMGW-1000',
        serial,
        hardwareRevision: 'r2',
        firmwareHash: randomBytes(32).toString('hex'),
        mac: randomBytes(6).toString('hex'),
      });
      if (!fp.ok) throw new Error(fp.error.message);
      const secret = generateDeviceSecret();
      const salt = randomBytes(32);
      const key = Wallet.createRandom();
      const deviceId = deviceIdOf(admin.address, serial);
      ids.push({
        deviceId,
        did: `did:ethr:0x${chain.chainId.toString(16)}:${key.address.toLowerCase()}`,
        secret,
        privateKey: key.privateKey,
        fingerprint: fp.value,
      });
      leaves.push({
        deviceId,
        fingerprint: fp.value,
        commitment: secretCommitment(salt, secret),
        initialOwner: admin.address,
      });
      await vault.put(deviceId, secret, salt);
    }
    trace('devices generated');
    const tree = buildDeviceBatch(leaves);
    await (await registry.registerBatch(tree.root, leaves.length)).wait();
    const batchId = await registry.batchCount();
    const txs = [];
    for (let i = 0; i < leaves.length; i++) {
      const l = leaves[i]!;
      txs.push(
        await registry.commissionFromBatch(
          batchId,
          l.deviceId,
          l.fingerprint,
          l.commitment,
          tree.proofs[i]!,
          new Wallet(ids[i]!.privateKey).address,
        ),
      );
      ctx.progress('commissioning devices', i + 1, leaves.length);
    }
    await Promise.all(txs.map((t) => t.wait()));

    trace('commissioned');
    // ---------------------------------------------------------------- verifier side
    const didWatcher = new RegistryWatcher({ registry: addresses.EthereumDIDRegistry, provider, wsUrl: chain.wsUrl });
    await didWatcher.start();
    cleanup.push(() => didWatcher.stop());
    const resolver = new CachedDidResolver({
      chainId: chain.chainId,
      provider,
      registry: addresses.EthereumDIDRegistry,
      watcher: didWatcher,
    });
    await broker.start();
    cleanup.push(() => broker.stop());
    const issuer = Wallet.createRandom();
    const reader = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);
    const stateWatcher = new DeviceStateWatcher({ provider, registry: addresses.DeviceRegistry, wsUrl: chain.wsUrl });
    const statusCache = new DeviceStatusCache((id) => readDeviceStatus(reader, id), stateWatcher);
    const responder = new HandshakeResponder({
      broker,
      readStatus: statusCache.readStatus,
      vault,
      resolver,
      challenges: new MemoryNonceStore(),
      // the bench repeats handshakes of the same devices far beyond a device's normal budget
      limiter: new MemoryHandshakeLimiter({
        limits: {
          device: { attempts: 1e9, windowMs: 60_000, lockoutThreshold: 5 },
          source: { attempts: 1e9, windowMs: 60_000, lockoutThreshold: 1e9 },
        },
      }),
      issuer: {
        did: `did:ethr:0x${chain.chainId.toString(16)}:${issuer.address.toLowerCase()}`,
        privateKey: issuer.privateKey,
      },
      chainId: chain.chainId,
    });
    await responder.start();
    await responder.enrolAll();
    dropSessionsOnRevocation(stateWatcher, {
      revoke: (id, o) => broker.revoke(id, o),
      enrol: (id) => responder.enrol(id),
    });
    await stateWatcher.start();
    cleanup.push(() => stateWatcher.stop());

    const devices = await Promise.all(ids.slice(0, DEVICES).map((id) => BenchDevice.connect(broker.url, id)));
    cleanup.push(() => Promise.all(devices.map((d) => d.client.endAsync(true))));
    trace('devices connected');
    // warm up (first resolution of each DID, JIT)
    await Promise.all(devices.map((d) => d.handshake()));

    trace('warm');
    // ---------------------------------------------------------------- ours
    const throughput = await closedLoop(DEVICES, THROUGHPUT_MS, (w) => devices[w]!.handshake());
    trace('throughput done');
    const busy = new Set<number>();
    const offered = await openLoop(OFFERED_PER_S, OFFERED_MS, async (i) => {
      // one handshake in flight per device: pick the next idle device
      let k = i % DEVICES;
      while (busy.size >= DEVICES) await new Promise((r) => setImmediate(r));
      while (busy.has(k)) k = (k + 1) % DEVICES;
      busy.add(k);
      try {
        return await devices[k]!.handshake();
      } finally {
        busy.delete(k);
      }
    });

    trace('offered done');
    // ---------------------------------------------------------------- naive baseline, same DIDs, same chain
    const plainProvider = new JsonRpcProvider(chain.rpcUrl); // ethers defaults, as a naive integration would
    cleanup.push(() => plainProvider.destroy());
    const plain = new Resolver(
      getResolver({
        networks: [
          {
            name: `0x${chain.chainId.toString(16)}`,
            chainId: chain.chainId,
            provider: plainProvider as never,
            registry: addresses.EthereumDIDRegistry,
          },
        ],
      }),
    );
    const signed = await Promise.all(
      ids
        .slice(0, DEVICES)
        .map((id) =>
          createJWT(
            { aud: 'tessera-verifier', nonce: randomBytes(16).toString('hex'), ocra: '12345678' },
            { issuer: id.did, signer: ES256KSigner(Buffer.from(id.privateKey.slice(2), 'hex')) },
            { alg: 'ES256K' },
          ),
        ),
    );
    const naiveOnce = async (w: number) => {
      const t = performance.now();
      await verifyJWT(signed[w % signed.length]!, { resolver: plain, audience: 'tessera-verifier' });
      return performance.now() - t;
    };
    const baseline = await closedLoop(DEVICES, BASELINE_MS, naiveOnce);
    const baselineOffered = await openLoop(OFFERED_PER_S, OFFERED_MS, naiveOnce);

    trace('baseline done');
    // ---------------------------------------------------------------- revocation → disconnect
    const victims = await Promise.all(ids.slice(DEVICES).map((id) => BenchDevice.connect(broker.url, id)));
    cleanup.push(() => Promise.all(victims.map((d) => d.client.endAsync(true))));
    for (const v of victims) await v.handshake();
    const revocation: number[] = [];
    for (const [i, v] of victims.entries()) {
      const closed = new Promise<number>((resolve) => v.client.once('close', () => resolve(performance.now())));
      const t0 = performance.now();
      await registry.revoke(v.id.deviceId);
      revocation.push((await closed) - t0);
      ctx.progress('revocations', i + 1, victims.length);
    }
    revocation.sort((a, b) => a - b);

    const r2 = (n: number) => Math.round(n * 100) / 100;
    const figures = {
      handshakes_per_s: Math.round(throughput.perSecond),
      p50_ms_at_200_per_s: r2(offered.p50),
      p99_ms_at_200_per_s: r2(offered.p99),
      closed_loop_p50_ms: r2(throughput.p50),
      closed_loop_p99_ms: r2(throughput.p99),
      revocation_to_disconnect_p50_ms: r2(percentile(revocation, 50)),
      revocation_to_disconnect_p99_ms: r2(percentile(revocation, 99)),
    };
    const baselines = {
      handshakes_per_s: Math.round(baseline.perSecond),
      p50_ms_at_200_per_s: r2(baselineOffered.p50),
      p99_ms_at_200_per_s: r2(baselineOffered.p99),
      closed_loop_p50_ms: r2(baseline.p50),
      closed_loop_p99_ms: r2(baseline.p99),
    };
    return {
      bench: 'handshake',
      figures,
      baselines,
      ratios: {
        handshakes_per_s: ratio(figures.handshakes_per_s, baselines.handshakes_per_s),
        p50_ms_at_200_per_s: ratio(figures.p50_ms_at_200_per_s, baselines.p50_ms_at_200_per_s, false),
        p99_ms_at_200_per_s: ratio(figures.p99_ms_at_200_per_s, baselines.p99_ms_at_200_per_s, false),
      },
      machine: ctx.machine,
      notes: [
        `${DEVICES} devices over MQTT 3.1.1 (TCP) to the embedded aedes broker; responder, anvil and devices in one machine`,
        `handshakes_per_s: closed loop, one handshake in flight per device, ${THROUGHPUT_MS} ms`,
        `latency at ${OFFERED_PER_S}/s: open loop for ${OFFERED_MS} ms (${offered.n} handshakes), hello sent → result received`,
        'baseline: did-jwt verifyJWT of a signed response with plain ethr-did-resolver (ethers default provider, no cache), in process',
        `revocation: ${REVOCATIONS} devices, operator revoke() sent → MQTT connection closed (includes mining and the event push)`,
      ],
    };
  } finally {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
    provider.destroy();
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
