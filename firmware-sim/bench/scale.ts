import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '@tessera/protocol';
import { ChainProvisioner, startInProcessStack } from '@tessera/stack';
import { generateDevices, type ProgressFn, seededRng } from '../src/index.js';
import type { ToWorker, WireIdentity, WorkerStats } from './scale-worker.js';

export interface ScaleOptions {
  devices: number;
  /** How long all sessions are held once everyone is authenticated (ms). */
  holdMs: number;
  /** Each device refreshes its session this often during the hold (s). */
  refreshEveryS: number;
  /** Most handshakes outstanding while the fleet connects. */
  maxPending?: number;
  /** Give up waiting for the fleet (connect or storm) after this long (ms). */
  timeoutMs?: number;
  progress?: ProgressFn;
  /** Run a second storm with the devices enrolled before the broker listens. */
  warmStorm?: boolean;
}

export interface ScaleResult {
  devices: number;
  provisionS: number;
  /** From the first CONNECT to the last device authenticated. */
  connectAllS: number;
  /** The verifier's reasons for the handshakes it refused or could not decide while the fleet connected. */
  connectReasons: Record<string, number>;
  authenticated: number;
  connectedClients: number;
  heapPerSessionBytes: number;
  rssPerSessionBytes: number;
  /** The same two measures at the end of the hold (after a minute of refreshes), per session held then. */
  heapPerSessionAfterHoldBytes: number;
  rssPerSessionAfterHoldBytes: number;
  /**
   * Diagnosis: the RSS per session at the end of the hold once V8 has also run its memory-reducing collection (which
   * it runs itself under memory pressure, not on a regular GC). Not the figure of the target.
   */
  rssPerSessionAfterHoldReducedBytes: number;
  baseline: { heapUsedMb: number; rssMb: number };
  connected: { heapUsedMb: number; rssMb: number };
  afterHold: { heapUsedMb: number; rssMb: number; withSession: number; refreshes: number };
  holdErrors: {
    denied: Record<string, number>;
    connectRefused: number;
    disconnects: number;
    lostSessions: number;
    reasons: Record<string, number>;
  };
  storm: {
    reauthenticated: number;
    allBackS: number;
    denied: Record<string, number>;
    /** The verifier's reasons for its refusals in this phase (log only; the device sees the code). */
    reasons: Record<string, number>;
    /** Handshakes the agents saw fail otherwise (a server proof that did not verify, the verifier undecided). */
    other: Record<string, number>;
    connectRefused: number;
    timedOut: boolean;
  };
  /** The storm again, with the devices enrolled before the broker listens (when `warmStorm`). */
  warmStorm?: ScaleResult['storm'];
  deviceProcessHeapMb: number;
  /**
   * Where the RSS per session (all connected, against the baseline) sits, in bytes per session: V8's live heap, heap
   * V8 has committed but holds no live object in (fragmentation, new space), glibc's main malloc heap (socket and
   * OpenSSL buffers, ArrayBuffer contents), and the rest (other mappings). Linux only (smaps), else undefined.
   */
  rssBreakdownPerSession?: RssBreakdown;
  /** The same split at the end of the hold (against the baseline, per session held then). */
  rssBreakdownPerSessionAfterHold?: RssBreakdown;
}

export interface RssBreakdown {
  v8Live: number;
  v8CommittedNotLive: number;
  mallocHeap: number;
  rest: number;
}

interface Memory {
  /** V8 heap in use plus external (ArrayBuffer contents and other memory V8 is told of). */
  heapUsed: number;
  rss: number;
  v8Live: number;
  v8Committed: number;
  /** Resident size of glibc's main malloc heap (the `[heap]` mapping), if /proc/self/smaps is there. */
  mallocHeap?: number;
}

/** A full GC (twice, to collect what the first made unreachable), then the process's memory. */
function measure(reduce = false): Memory {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as (o?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
  gc();
  gc();
  // V8's memory-reducing collection (what it runs itself under memory pressure): compacts and releases pages.
  if (reduce) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const m = process.memoryUsage();
  return {
    heapUsed: m.heapUsed + m.external,
    rss: m.rss,
    v8Live: m.heapUsed,
    v8Committed: m.heapTotal,
    mallocHeap: mallocHeapBytes(),
  };
}

function mallocHeapBytes(): number | undefined {
  let smaps: string;
  try {
    smaps = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return undefined;
  }
  const at = smaps.search(/ \[heap\]\n/);
  if (at < 0) return 0;
  const rss = /\nRss:\s+(\d+) kB/.exec(smaps.slice(at));
  return rss ? Number(rss[1]) * 1024 : undefined;
}

/** With TESSERA_SIM_HEAP_SNAPSHOTS=<dir>, a V8 heap snapshot of this process at each measuring point (diagnosis). */
function snapshot(label: string): void {
  const dir = process.env.TESSERA_SIM_HEAP_SNAPSHOTS;
  if (dir) writeHeapSnapshot(`${dir}/${label}.heapsnapshot`);
}

const mb = (b: number) => Math.round(b / 2 ** 20);

/**
 * The scale run: `devices` real DeviceAgents (in a child process) authenticated and connected at once to
 * the embedded aedes broker and the handshake service (in this process), held for `holdMs` with session refreshes;
 * the memory of this process per connected session; then a broker restart and the time until all are back.
 */
export async function runSessionsScale(o: ScaleOptions): Promise<ScaleResult> {
  const timeoutMs = o.timeoutMs ?? 600_000;
  // The verifier's precise reason for every refusal and every undecided handshake, counted per phase.
  let reasons: Record<string, number> = {};
  const count = (obj: object | string) => {
    const e = obj as { event?: string; code?: string; reason?: string };
    if (e.event !== 'handshake_denied' && e.event !== 'handshake_unavailable' && e.event !== 'handshake_error') return;
    const k = `${e.code ?? e.event}: ${e.reason ?? ''}`;
    reasons[k] = (reasons[k] ?? 0) + 1;
  };
  const noop = () => undefined;
  const log: Logger = { debug: noop, info: noop, warn: count, error: count, child: () => log };
  const takeReasons = () => {
    const r = reasons;
    reasons = {};
    return r;
  };
  const stack = await startInProcessStack({ log });
  let child: ChildProcess | undefined;
  try {
    const t0 = performance.now();
    const generated = generateDevices(seededRng(`scale-${o.devices}`), o.devices);
    const devices = await new ChainProvisioner(stack).provision(generated, o.progress);
    const provisionS = (performance.now() - t0) / 1000;
    const identities: WireIdentity[] = devices.map((d) => ({
      deviceId: d.identity.deviceId,
      did: d.identity.did,
      secret: Buffer.from(d.identity.secret).toString('hex'),
      privateKey: d.identity.privateKey,
      fingerprint: d.identity.fingerprint,
    }));
    devices.length = 0;

    child = fork(fileURLToPath(new URL('./scale-worker.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const c = child;
    await once(c, 'message');
    const ask = async (): Promise<WorkerStats> => {
      const got = once(c, 'message') as Promise<[WorkerStats]>;
      c.send({ type: 'stats' } satisfies ToWorker);
      return (await got)[0];
    };
    const waitFor = async (label: string, done: (s: WorkerStats) => boolean, total: (s: WorkerStats) => number) => {
      const start = performance.now();
      for (;;) {
        const s = await ask();
        o.progress?.(label, total(s), o.devices);
        if (done(s)) return { s, timedOut: false };
        if (performance.now() - start > timeoutMs) return { s, timedOut: true };
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    const base = measure();
    snapshot('base');
    const connectStart = performance.now();
    c.send({
      type: 'start',
      brokerUrl: stack.brokerUrl,
      identities,
      refreshEveryS: o.refreshEveryS,
      maxPending: o.maxPending ?? 400,
    } satisfies ToWorker);
    identities.length = 0;
    const connected = await waitFor(
      'authenticating fleet',
      (s) => s.withSession >= o.devices,
      (s) => s.withSession,
    );
    const connectAllS = (performance.now() - connectStart) / 1000;
    const connectReasons = takeReasons();
    const atConnect = measure();
    snapshot('connected');
    const connectedClients = stack.broker.connectedClients;
    const before = connected.s;

    // Hold, with refreshes.
    const holdStart = performance.now();
    let s = before;
    while (performance.now() - holdStart < o.holdMs) {
      await new Promise((r) => setTimeout(r, 1000));
      s = await ask();
      o.progress?.('holding sessions', Math.round(performance.now() - holdStart), o.holdMs);
    }
    const afterHold = measure();
    // Diagnosis, after every figure above was taken: how much of the RSS V8 gives back when asked to reduce memory.
    const afterHoldReduced = measure(true);
    const diff = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(a)
          .map(([k, v]) => [k, v - (b[k] ?? 0)] as const)
          .filter(([, v]) => v > 0),
      );
    const holdErrors = {
      denied: diff(s.denied, before.denied),
      connectRefused: s.connectRefused - before.connectRefused,
      disconnects: s.disconnects - before.disconnects,
      lostSessions: o.devices - s.withSession,
      reasons: takeReasons(),
    };

    // Connect storm: restart the broker (and the handshake service on it); everyone reconnects.
    c.send({ type: 'mark-storm' } satisfies ToWorker);
    await once(c, 'message');
    const stormStart = performance.now();
    await stack.restartBroker();
    const storm = await waitFor(
      'connect storm',
      (x) => x.reauthenticated >= o.devices,
      (x) => x.reauthenticated,
    );
    const allBackS = (performance.now() - stormStart) / 1000;
    const stormReasons = takeReasons();

    // The same storm with the devices enrolled before the broker listens (what-if for the verifier's start order).
    let warm: ScaleResult['warmStorm'];
    if (o.warmStorm) {
      c.send({ type: 'mark-storm' } satisfies ToWorker);
      await once(c, 'message');
      const warmStart = performance.now();
      await stack.restartBroker({ enrolBeforeListen: true });
      const w = await waitFor(
        'connect storm (enrolled first)',
        (x) => x.reauthenticated >= o.devices,
        (x) => x.reauthenticated,
      );
      warm = {
        reauthenticated: w.s.reauthenticated,
        allBackS: (performance.now() - warmStart) / 1000,
        denied: diff(w.s.denied, storm.s.denied),
        reasons: takeReasons(),
        other: diff(w.s.other, storm.s.other),
        connectRefused: w.s.connectRefused - storm.s.connectRefused,
        timedOut: w.timedOut,
      };
    }

    c.send({ type: 'stop' } satisfies ToWorker);
    await Promise.race([once(c, 'exit'), new Promise((r) => setTimeout(r, 30_000).unref())]);
    const n = Math.max(connected.s.withSession, 1);
    return {
      devices: o.devices,
      provisionS,
      connectAllS,
      connectReasons,
      authenticated: connected.s.withSession,
      connectedClients,
      heapPerSessionBytes: Math.round((atConnect.heapUsed - base.heapUsed) / n),
      rssPerSessionBytes: Math.round((atConnect.rss - base.rss) / n),
      heapPerSessionAfterHoldBytes: Math.round((afterHold.heapUsed - base.heapUsed) / Math.max(s.withSession, 1)),
      rssPerSessionAfterHoldBytes: Math.round((afterHold.rss - base.rss) / Math.max(s.withSession, 1)),
      rssPerSessionAfterHoldReducedBytes: Math.round((afterHoldReduced.rss - base.rss) / Math.max(s.withSession, 1)),
      baseline: { heapUsedMb: mb(base.heapUsed), rssMb: mb(base.rss) },
      connected: { heapUsedMb: mb(atConnect.heapUsed), rssMb: mb(atConnect.rss) },
      afterHold: {
        heapUsedMb: mb(afterHold.heapUsed),
        rssMb: mb(afterHold.rss),
        withSession: s.withSession,
        refreshes: s.refreshes - before.refreshes,
      },
      holdErrors,
      storm: {
        reauthenticated: storm.s.reauthenticated,
        allBackS,
        denied: diff(storm.s.denied, s.denied),
        reasons: stormReasons,
        other: diff(storm.s.other, s.other),
        connectRefused: storm.s.connectRefused - s.connectRefused,
        timedOut: storm.timedOut,
      },
      ...(warm ? { warmStorm: warm } : {}),
      deviceProcessHeapMb: storm.s.heapUsedMb,
      ...(base.mallocHeap !== undefined && atConnect.mallocHeap !== undefined
        ? { rssBreakdownPerSession: breakdown(base, atConnect, n) }
        : {}),
      ...(base.mallocHeap !== undefined && afterHold.mallocHeap !== undefined
        ? { rssBreakdownPerSessionAfterHold: breakdown(base, afterHold, Math.max(s.withSession, 1)) }
        : {}),
    };
  } finally {
    child?.kill();
    await stack.stop();
  }
}

function breakdown(a: Memory, b: Memory, n: number): RssBreakdown {
  const per = (x: number) => Math.round(x / n);
  const v8Live = b.v8Live - a.v8Live;
  const v8CommittedNotLive = b.v8Committed - b.v8Live - (a.v8Committed - a.v8Live);
  const mallocHeap = (b.mallocHeap ?? 0) - (a.mallocHeap ?? 0);
  const rest = b.rss - a.rss - v8Live - v8CommittedNotLive - mallocHeap;
  return {
    v8Live: per(v8Live),
    v8CommittedNotLive: per(v8CommittedNotLive),
    mallocHeap: per(mallocHeap),
    rest: per(rest),
  };
}
