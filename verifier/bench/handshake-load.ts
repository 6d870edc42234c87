/**
 * The device side of the handshake bench, run in a worker thread so devices and verifier use both cores, as separate
 * machines would. It connects the devices over MQTT (TCP), warms up, then measures a closed loop (throughput) and an
 * open loop at a fixed offered rate (latency), and posts the figures back.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { answerChallenge, createHello, type DeviceIdentity } from '@tessera/device-agent';
import { deriveBrokerPassword, parseHandshakeMessage, topics } from '@tessera/protocol';
import { percentile } from '@tessera/runtime';
import { connect, type MqttClient } from 'mqtt';

/** One connected device that runs handshakes back to back (one in flight at a time). */
export class BenchDevice {
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
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync([topics.handshake(id.deviceId, 'challenge'), topics.handshake(id.deviceId, 'result')], {
      qos: 1,
    });
    return new BenchDevice(id, client);
  }

  /** One full handshake, hello sent → result received; resolves with its latency in ms (throws unless granted). */
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

export interface LoopFigures {
  perSecond: number;
  p50: number;
  p99: number;
  n: number;
}

/** Closed loop: every worker runs operations back to back for `ms`. */
export async function closedLoop(
  workers: number,
  ms: number,
  op: (w: number) => Promise<number>,
): Promise<LoopFigures> {
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
  return { perSecond: lat.length / s, p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
}

/** Open loop at a fixed offered rate: start one operation every 1000/rate ms whatever the previous ones do. */
export async function openLoop(rate: number, ms: number, op: (i: number) => Promise<number>): Promise<LoopFigures> {
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
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSecond: lat.length / s, p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
}

export interface LoadSpec {
  url: string;
  /** Identities with the secret as hex (worker data is structured-cloned). */
  devices: (Omit<DeviceIdentity, 'secret'> & { secret: string })[];
  throughputMs: number;
  offeredPerS: number;
  offeredMs: number;
}

/** Run the device load in a worker thread; resolves with the closed-loop and the open-loop figures. */
export function runDeviceLoad(spec: LoadSpec): Promise<{ throughput: LoopFigures; offered: LoopFigures }> {
  return new Promise((resolve, reject) => {
    // A worker's entry is loaded before any --import hook of its own would apply: bootstrap tsx in plain JS first.
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
    const worker = new Worker(code, { eval: true, workerData: spec });
    worker.once('message', (m) => {
      resolve(m as { throughput: LoopFigures; offered: LoopFigures });
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

async function workerMain(spec: LoadSpec): Promise<void> {
  const devices = await Promise.all(
    spec.devices.map((d) => BenchDevice.connect(spec.url, { ...d, secret: Buffer.from(d.secret, 'hex') })),
  );
  await Promise.all(devices.map((d) => d.handshake())); // warm-up: first resolution of each DID, JIT
  const throughput = await closedLoop(devices.length, spec.throughputMs, (w) => devices[w]!.handshake());
  const busy = new Set<number>();
  const offered = await openLoop(spec.offeredPerS, spec.offeredMs, async (i) => {
    while (busy.size >= devices.length) await new Promise((r) => setImmediate(r));
    let k = i % devices.length;
    while (busy.has(k)) k = (k + 1) % devices.length;
    busy.add(k);
    try {
      return await devices[k]!.handshake();
    } finally {
      busy.delete(k);
    }
  });
  await Promise.all(devices.map((d) => d.client.endAsync(true)));
  parentPort!.postMessage({ throughput, offered });
}

if (!isMainThread && (workerData as LoadSpec | undefined)?.url) {
  workerMain(workerData as LoadSpec).catch((e) => {
    throw e;
  });
}
