import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHello,
  DeviceAgent,
  type DeviceAgentOptions,
  type DeviceIdentity,
  type HandshakeOutcome,
} from '@tessera/device-agent';
import { generateDeviceSecret, type Logger, silentLogger } from '@tessera/protocol';
import { BROKER_REFUSED, forcedResponse, RawDeviceClient, type StepOutcome } from './client.js';
import { cloneHardware, nextFirmware } from './devices.js';
import type { FleetProvisioner, SimDevice } from './provision.js';
import type { Rng } from './rng.js';
import type { Scenario } from './scenarios.js';

/** What the simulator expected of an attempt: honest ones accepted, attackers (and revoked devices) refused. */
export type Expectation = 'accept' | 'refuse' | 'either';

/** One authentication attempt of one device. */
export interface Attempt {
  device: number;
  scenario: Scenario;
  /** What was tried: connect, refresh, reconnect, wrong-password, wrong-ocra, clone-honest, clone-lying, replay-verbatim, replay-relabelled, post-revoke, stale-firmware, new-firmware. */
  step: string;
  expect: Expectation;
  outcome: 'accepted' | 'refused' | 'error';
  /** Error code of a refusal or an error. */
  code?: string;
  /** From the first message of the attempt to its result (ms); undefined when not measurable. */
  latencyMs?: number;
  /** Start of the attempt, ms since the start of the run. */
  t: number;
}

export interface FleetRunOptions {
  brokerUrl: string;
  devices: readonly SimDevice[];
  /** scenarios[i] is the scenario of devices[i]. */
  scenarios: readonly Scenario[];
  durationMs: number;
  /** Mean time between two attempts of one device (ms); each wait is uniform in [0.5, 1.5] × this. */
  intervalMs?: number;
  provisioner: FleetProvisioner;
  rng: Rng;
  onAttempt?(a: Attempt): void;
  log?: Logger;
}

export interface FleetRunResult {
  attempts: Attempt[];
  durationMs: number;
  /** Operator revoke (transaction sent) → the device's MQTT connection closed, per revoked device (ms). */
  revokeToDisconnectMs: number[];
}

const TIMEOUT_MS = 15_000;

/** A DeviceAgent that reports every handshake it runs, with its latency. */
class TimedAgent extends DeviceAgent {
  constructor(
    options: DeviceAgentOptions,
    private readonly onHandshake: (o: HandshakeOutcome, ms: number, t0: number, refresh: boolean) => void,
  ) {
    super(options);
  }
  override handshake(): Promise<HandshakeOutcome> {
    const t0 = performance.now();
    const refresh = this.session !== undefined;
    return super.handshake().then((o) => {
      this.onHandshake(o, performance.now() - t0, t0, refresh);
      return o;
    });
  }
}

/** The agent's socket, cut as a network failure would (no DISCONNECT packet). */
function cutNetwork(agent: DeviceAgent): void {
  const c = (agent as unknown as { client?: { stream?: { destroy(): void } } }).client;
  c?.stream?.destroy();
}

/**
 * Run every device of the fleet in its scenario against the broker at `brokerUrl` for `durationMs`, and record each
 * attempt. Honest kinds run the real DeviceAgent; attackers speak the protocol through a raw MQTT client.
 */
export async function runFleet(o: FleetRunOptions): Promise<FleetRunResult> {
  const start = performance.now();
  const deadline = start + o.durationMs;
  const interval = o.intervalMs ?? 5_000;
  const attempts: Attempt[] = [];
  const revokeToDisconnectMs: number[] = [];
  const record = (a: Omit<Attempt, 't'> & { t0: number }) => {
    const { t0, ...rest } = a;
    const at: Attempt = { ...rest, t: Math.round(t0 - start) };
    if (at.latencyMs !== undefined) at.latencyMs = Math.round(at.latencyMs * 100) / 100;
    attempts.push(at);
    o.onAttempt?.(at);
  };
  const left = () => deadline - performance.now();
  const wait = async (mean = interval) => {
    const ms = Math.min(left(), mean * (0.5 + o.rng.next()));
    if (ms > 0) await sleep(ms);
    return left() > 0;
  };
  // Spread the first connects over the first interval (a fleet does not power up in the same millisecond).
  const firstDelay = () => o.rng.next() * Math.min(interval, o.durationMs / 4);

  const fromStep = (s: StepOutcome): Pick<Attempt, 'outcome' | 'code'> => {
    if (s.kind === 'result') return s.result.ok ? { outcome: 'accepted' } : { outcome: 'refused', code: s.result.code };
    return { outcome: 'error', code: s.kind === 'timeout' ? 'SIM_TIMEOUT' : 'SIM_CONNECTION_CLOSED' };
  };

  /** One raw connection per attacker, reconnected when the broker closes it. */
  const rawConnect = async (
    d: SimDevice,
    passwordSecret?: Uint8Array,
  ): Promise<RawDeviceClient | Pick<Attempt, 'outcome' | 'code'>> => {
    const c = await RawDeviceClient.connect(o.brokerUrl, d.identity, {
      ...(passwordSecret ? { passwordSecret } : {}),
      timeoutMs: TIMEOUT_MS,
    });
    if (c === 'refused') return { outcome: 'refused', code: BROKER_REFUSED };
    if (c === 'timeout') return { outcome: 'error', code: 'SIM_TIMEOUT' };
    return c;
  };

  const honest = async (i: number, d: SimDevice, scenario: Scenario) => {
    await sleep(firstDelay());
    let phase: 'before' | 'changing' | 'after' = 'before';
    let identity: DeviceIdentity = d.identity;
    const drift = scenario === 'clock-drift' ? Math.round((o.rng.next() * 2 - 1) * 120_000) : 0;
    let connects = 0;
    let everAccepted = false;
    const expectation = (): Expectation =>
      phase === 'before'
        ? 'accept'
        : phase === 'changing'
          ? 'either'
          : scenario === 'revoked-mid-run'
            ? 'refuse'
            : 'accept';
    const makeAgent = () => {
      const log: Logger = {
        ...silentLogger,
        child: () => log,
        warn: (obj) => {
          const e = obj as { event?: string; error?: string };
          if (e.event !== 'mqtt_error') return;
          const refused = /username|password|authori/i.test(e.error ?? '');
          record({
            device: i,
            scenario,
            step: 'connect',
            expect: expectation(),
            outcome: refused ? 'refused' : 'error',
            code: refused
              ? BROKER_REFUSED
              : /timeout/i.test(e.error ?? '')
                ? 'SIM_CONNECT_TIMEOUT'
                : 'SIM_CONNECT_FAILED',
            t0: performance.now(),
          });
        },
      };
      const agent = new TimedAgent(
        {
          identity,
          brokerUrl: o.brokerUrl,
          backoff: { initialMs: 200, maxMs: 5_000 },
          handshakeTimeoutMs: TIMEOUT_MS,
          log,
          ...(drift ? { now: () => Date.now() + drift } : {}),
        },
        (outcome, ms, t0, refresh) => {
          if (outcome.ok) everAccepted = true;
          record({
            device: i,
            scenario,
            step: refresh ? 'refresh' : connects > 1 ? 'reconnect' : 'connect',
            expect: expectation(),
            ...(outcome.ok
              ? { outcome: 'accepted' as const }
              : outcome.code === 'ERR_UNAVAILABLE'
                ? { outcome: 'error' as const, code: 'ERR_UNAVAILABLE' }
                : { outcome: 'refused' as const, code: outcome.code }),
            latencyMs: ms,
            t0,
          });
        },
      );
      agent.on('connected', () => connects++);
      return agent;
    };
    let agent = makeAgent();
    agent.start();
    const changeAt = start + o.durationMs * (0.3 + 0.3 * o.rng.next());
    try {
      while (left() > 0) {
        if (scenario === 'flapping') {
          // A storm: a calm spell (one refresh), then the network drops two to four times, one to three seconds
          // apart. About nine handshakes a minute: under the per-device budget (30 admissions a minute, two per
          // handshake), which a device reconnecting every few seconds for a whole minute exceeds and is throttled.
          if (!(await wait(interval * 4))) break;
          if (agent.session) await agent.refresh();
          const cuts = o.rng.int(2, 4);
          for (let k = 0; k < cuts && left() > 0; k++) {
            cutNetwork(agent);
            if (!(await wait(2_000))) break;
          }
          continue;
        }
        if (!(await wait(interval))) break;
        // The change comes mid-run, after the device has been in at least once.
        if (
          (scenario === 'revoked-mid-run' || scenario === 'firmware-update-mid-run') &&
          performance.now() >= changeAt &&
          everAccepted
        )
          break;
        if (agent.session) await agent.refresh();
      }
      if (left() <= 0) return;
      if (scenario === 'revoked-mid-run') {
        phase = 'changing';
        const sent = performance.now();
        const dropped = agent.connected ? agent.next('disconnected') : Promise.resolve();
        await o.provisioner.revoke(d.identity.deviceId);
        phase = 'after';
        const gone = await Promise.race([dropped.then(() => true as boolean), sleep(10_000, false, { ref: false })]);
        if (gone) revokeToDisconnectMs.push(Math.round((performance.now() - sent) * 100) / 100);
        await agent.stop();
        // The device keeps trying with its (now revoked) identity: every attempt must be refused.
        let c: RawDeviceClient | undefined;
        while (await wait()) {
          const t0 = performance.now();
          if (!c || c.closed) {
            const r = await rawConnect(d);
            if (!(r instanceof RawDeviceClient)) {
              record({
                device: i,
                scenario,
                step: 'post-revoke',
                expect: 'refuse',
                ...r,
                latencyMs: performance.now() - t0,
                t0,
              });
              continue;
            }
            c = r;
          }
          const g = await c.genuine();
          const res =
            g.outcome.kind === 'server-proof'
              ? { outcome: 'refused' as const, code: 'ERR_HANDSHAKE_SERVER_PROOF' }
              : fromStep(g.outcome);
          record({
            device: i,
            scenario,
            step: 'post-revoke',
            expect: 'refuse',
            ...res,
            latencyMs: performance.now() - t0,
            t0,
          });
        }
        c?.close();
        return;
      }
      if (scenario === 'firmware-update-mid-run') {
        // Reboot into the new image; the owner records the new fingerprint on chain.
        phase = 'changing';
        await agent.stop();
        const next = nextFirmware(d.generated);
        if (!o.provisioner.updateFirmware) throw new Error(`${o.provisioner.kind} cannot record firmware updates`);
        await o.provisioner.updateFirmware(d.identity.deviceId, next.fingerprint);
        // One block plus a fraction of a second for the verifier to learn of it from the chain event.
        await sleep(1_000);
        phase = 'after';
        // The old image (a rolled-back or cloned board) must now be refused.
        const t0 = performance.now();
        const r = await rawConnect(d);
        if (r instanceof RawDeviceClient) {
          const h = await r.hello(createHello(d.identity));
          let res = fromStep(h);
          if (h.kind === 'challenge')
            res = fromStep(await r.respond(forcedResponse(d.identity, createHello(d.identity), h.challenge)));
          record({
            device: i,
            scenario,
            step: 'stale-firmware',
            expect: 'refuse',
            ...res,
            latencyMs: performance.now() - t0,
            t0,
          });
          r.close();
        } else
          record({
            device: i,
            scenario,
            step: 'stale-firmware',
            expect: 'refuse',
            ...r,
            latencyMs: performance.now() - t0,
            t0,
          });
        identity = { ...d.identity, fingerprint: next.fingerprint };
        connects = 0;
        agent = makeAgent();
        agent.start();
        while (await wait()) if (agent.session) await agent.refresh();
      }
    } finally {
      await agent.stop();
    }
  };

  const attacker = async (i: number, d: SimDevice, scenario: Scenario) => {
    await sleep(firstDelay());
    const clone = scenario === 'clone' ? cloneHardware(d.generated, o.rng) : undefined;
    let c: RawDeviceClient | undefined;
    let captured: Awaited<ReturnType<RawDeviceClient['genuine']>> | undefined;
    let n = 0;
    for (;;) {
      const t0 = performance.now();
      const step =
        scenario === 'wrong-secret'
          ? n % 2 === 0
            ? 'wrong-password'
            : 'wrong-ocra'
          : scenario === 'clone'
            ? n % 2 === 0
              ? 'clone-honest'
              : 'clone-lying'
            : n % 2 === 0
              ? 'replay-verbatim'
              : 'replay-relabelled';
      n++;
      const rec = (r: Pick<Attempt, 'outcome' | 'code'>) =>
        record({ device: i, scenario, step, expect: 'refuse', ...r, latencyMs: performance.now() - t0, t0 });
      if (step === 'wrong-password') {
        // Guessing the secret: the broker password derived from a wrong secret.
        const r = await rawConnect(d, generateDeviceSecret());
        if (r instanceof RawDeviceClient) {
          const g = await r.hello();
          rec(g.kind === 'challenge' ? { outcome: 'error', code: 'SIM_UNEXPECTED_CHALLENGE' } : fromStep(g));
          r.close();
        } else rec(r);
      } else {
        if (!c || c.closed) {
          const r = await rawConnect(d);
          if (!(r instanceof RawDeviceClient)) {
            rec(r);
            if (!(await wait())) break;
            continue;
          }
          c = r;
        }
        if (scenario === 'replay' && !captured) {
          // Setup, not an attempt: a genuine exchange of this device, as sniffed off the network.
          captured = await c.genuine();
          if (!captured.response) captured = undefined;
          n--;
          if (!(await wait())) break;
          continue;
        }
        if (step === 'wrong-ocra') {
          const hello = createHello(d.identity);
          const h = await c.hello(hello);
          rec(
            h.kind === 'challenge'
              ? fromStep(
                  await c.respond(forcedResponse(d.identity, hello, h.challenge, { secret: generateDeviceSecret() })),
                )
              : fromStep(h),
          );
        } else if (step === 'clone-honest' && clone) {
          // Honest firmware on the clone board reports the fingerprint it measures.
          rec(fromStep(await c.hello(createHello({ ...d.identity, fingerprint: clone.fingerprint }))));
        } else if (step === 'clone-lying' && clone) {
          // Claims the registered fingerprint, but can only compute over its own characteristics.
          const hello = createHello(d.identity);
          const h = await c.hello(hello);
          rec(
            h.kind === 'challenge'
              ? fromStep(
                  await c.respond(
                    forcedResponse({ ...d.identity, fingerprint: clone.fingerprint }, hello, h.challenge),
                  ),
                )
              : fromStep(h),
          );
        } else if (step === 'replay-verbatim' && captured?.response) {
          rec(fromStep(await c.respond(captured.response)));
        } else if (step === 'replay-relabelled' && captured?.response) {
          // A new session with the captured client nonce, answered with the captured response.
          const h = await c.hello(createHello(d.identity, captured.hello.clientNonce));
          rec(
            h.kind === 'challenge'
              ? fromStep(await c.respond({ ...captured.response, sessionId: h.challenge.sessionId }))
              : fromStep(h),
          );
        }
      }
      if (!(await wait())) break;
    }
    c?.close();
  };

  await Promise.all(
    o.devices.map(async (d, i) => {
      const s = o.scenarios[i]!;
      try {
        if (s === 'wrong-secret' || s === 'clone' || s === 'replay') await attacker(i, d, s);
        else await honest(i, d, s);
      } catch (e) {
        (o.log ?? silentLogger).error({ event: 'sim_device_failed', device: i, error: (e as Error).message });
        record({
          device: i,
          scenario: s,
          step: 'internal',
          expect: 'either',
          outcome: 'error',
          code: 'ERR_INTERNAL',
          t0: performance.now(),
        });
      }
    }),
  );
  return { attempts, durationMs: performance.now() - start, revokeToDisconnectMs };
}
