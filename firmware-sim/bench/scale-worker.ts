/**
 * The device side of the scale run, in its own process so that its memory is not counted as the stack's: one real
 * DeviceAgent per device, started in waves (at most `maxPending` handshakes outstanding), refreshing its session
 * every `refreshEveryS`, reconnecting with backoff and jitter. Reports counts to the parent over IPC.
 */
import { DEVICE_SESSION_TTL_S } from '@tessera/protocol';
import { DeviceAgent, type DeviceIdentity } from '@tessera/device-agent';
import type { Logger } from '@tessera/protocol';
import { silentLogger } from '@tessera/protocol';

export interface WireIdentity {
  deviceId: string;
  did: string;
  secret: string;
  privateKey: string;
  fingerprint: string;
}

export type ToWorker =
  | { type: 'start'; brokerUrl: string; identities: WireIdentity[]; refreshEveryS: number; maxPending: number }
  | { type: 'mark-storm' }
  | { type: 'stats' }
  | { type: 'stop' };

export interface WorkerStats {
  type: 'stats';
  started: number;
  withSession: number;
  sessions: number;
  refreshes: number;
  /** Handshake refusals by code (any refusal of these genuine devices is a wrong one). */
  denied: Record<string, number>;
  /** Other handshakes that did not end in a session, by what the agent saw: a server proof that did not verify (a
   * challenge that was not for its hello), the verifier undecided. */
  other: Record<string, number>;
  /** CONNECTs the broker refused (CONNACK 4/5). */
  connectRefused: number;
  disconnects: number;
  /** Since the last mark-storm: devices that lost their connection and got a new session afterwards. */
  reauthenticated: number;
  heapUsedMb: number;
}

type State = { session: boolean; storm: 'none' | 'await-disconnect' | 'await-session' | 'done' };

const agents: DeviceAgent[] = [];
const states: State[] = [];
const stats: WorkerStats = {
  type: 'stats',
  started: 0,
  withSession: 0,
  sessions: 0,
  refreshes: 0,
  denied: {},
  other: {},
  connectRefused: 0,
  disconnects: 0,
  reauthenticated: 0,
  heapUsedMb: 0,
};

const send = (m: unknown) => process.send?.(m);

async function start(m: Extract<ToWorker, { type: 'start' }>) {
  let pending = 0;
  let wake: (() => void) | undefined;
  const log: Logger = {
    ...silentLogger,
    child: () => log,
    warn: (obj) => {
      const e = obj as { event?: string; error?: string };
      if (e.event === 'mqtt_error' && /username|password|authori/i.test(e.error ?? '')) stats.connectRefused++;
    },
  };
  for (const w of m.identities) {
    while (pending >= m.maxPending) await new Promise<void>((r) => (wake = r));
    const identity: DeviceIdentity = {
      deviceId: w.deviceId,
      did: w.did,
      secret: Buffer.from(w.secret, 'hex'),
      privateKey: w.privateKey,
      fingerprint: w.fingerprint,
    };
    const agent = new DeviceAgent({
      identity,
      brokerUrl: m.brokerUrl,
      backoff: { initialMs: 1_000, maxMs: 20_000 },
      handshakeTimeoutMs: 30_000,
      // Refresh every refreshEveryS: the session lasts DEVICE_SESSION_TTL_S, so start the refresh that long before.
      refreshBeforeS: Math.max(1, DEVICE_SESSION_TTL_S - m.refreshEveryS),
      log,
    });
    const st: State = { session: false, storm: 'none' };
    let first = true;
    pending++;
    agent.on('session', () => {
      if (first) {
        first = false;
        pending--;
        wake?.();
      }
      stats.sessions++;
      if (st.session) stats.refreshes++;
      else {
        st.session = true;
        stats.withSession++;
      }
      if (st.storm === 'await-session') {
        st.storm = 'done';
        stats.reauthenticated++;
      }
    });
    agent.on('denied', (d: { code: string }) => {
      stats.denied[d.code] = (stats.denied[d.code] ?? 0) + 1;
    });
    agent.on('rogue', () => {
      stats.other.server_proof = (stats.other.server_proof ?? 0) + 1;
    });
    agent.on('unavailable', () => {
      stats.other.unavailable = (stats.other.unavailable ?? 0) + 1;
    });
    agent.on('disconnected', () => {
      stats.disconnects++;
      if (st.session) {
        st.session = false;
        stats.withSession--;
      }
      if (st.storm === 'await-disconnect') st.storm = 'await-session';
    });
    agents.push(agent);
    states.push(st);
    agent.start();
    stats.started++;
  }
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') void start(m);
  else if (m.type === 'mark-storm') {
    stats.reauthenticated = 0;
    for (const s of states) s.storm = 'await-disconnect';
    send({ type: 'marked' });
  } else if (m.type === 'stats') {
    stats.heapUsedMb = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
    send(stats);
  } else if (m.type === 'stop') {
    void Promise.all(agents.map((a) => a.stop().catch(() => undefined))).then(() => {
      send({ type: 'stopped' });
      process.exit(0);
    });
  }
});
send({ type: 'ready' });
