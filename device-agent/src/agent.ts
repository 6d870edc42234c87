import { EventEmitter, once } from 'node:events';
import {
  DEVICE_SESSION_REFRESH_BEFORE_S,
  deriveBrokerPassword,
  deriveSessionPassword,
  type ErrorCode,
  type HandshakeChallenge,
  type HandshakeHello,
  type Logger,
  parseHandshakeMessage,
  silentLogger,
  type TopicPermissions,
  topics,
} from '@tessera/protocol';
import { connect, type MqttClient } from 'mqtt';
import { answerChallenge, createHello, type DeviceIdentity } from './initiator.js';

export interface DeviceSession {
  sessionId: string;
  credential: string;
  expiresAt: number;
  permissions: TopicPermissions;
}

export interface BackoffOptions {
  /** First reconnect delay (ms). */
  initialMs: number;
  /** Upper bound of the delay (ms). */
  maxMs: number;
}

export interface DeviceAgentOptions {
  identity: DeviceIdentity;
  brokerUrl: string;
  log?: Logger;
  now?: () => number;
  backoff?: BackoffOptions;
  /** Start a refresh handshake this many seconds before the session credential expires. */
  refreshBeforeS?: number;
  /** Give up on a handshake (and retry) when no result arrives within this time. */
  handshakeTimeoutMs?: number;
  /** Random source for jitter, in [0, 1) (injectable for tests). */
  random?: () => number;
}

export type HandshakeOutcome =
  | {
      ok: true;
      session: DeviceSession;
      /** The broker holds the grant on this session login: reconnect with it (docs/protocol.md, "Session logins"). */
      login?: string;
    }
  | { ok: false; code: ErrorCode; retryAfterMs?: number };

/** What the verifier tells a device about its own on-chain state when that state keeps it out. */
export type LifecycleCode = 'ERR_DEVICE_SUSPENDED' | 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED';
/** Revoked and decommissioned are final: the agent stops. */
export type FinalLifecycleCode = Exclude<LifecycleCode, 'ERR_DEVICE_SUSPENDED'>;

export const isLifecycleCode = (code: string): code is LifecycleCode =>
  code === 'ERR_DEVICE_SUSPENDED' || code === 'ERR_DEVICE_REVOKED' || code === 'ERR_DEVICE_DECOMMISSIONED';

/** A broker's refusal of the CONNECT (MQTT 3.1.1 §3.2.2.3 return codes). */
export interface ConnectRefusal {
  /** 1 protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized. */
  returnCode: number;
  message: string;
}

/**
 * Subscribe and return the granted QoS, or 128 when the broker refused (MQTT 3.1.1 §3.9.3 return code 0x80; mqtt.js 5
 * reports that as an ErrorWithSubackPacket).
 */
export async function subscribeQos(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    return granted[0]?.qos ?? 128;
  } catch (e) {
    if ((e as Error).name === 'ErrorWithSubackPacket') return 128;
    throw e;
  }
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 60_000 };

/**
 * Exponential backoff with "equal jitter": half of the exponential delay is fixed, the other half random, so a fleet
 * that lost its broker at the same moment does not come back at the same moment.
 */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * The gateway runtime: one MQTT 3.1.1 connection to the broker (client id = username = device id, password derived
 * from the secret, never the secret), the handshake as initiator, a refresh handshake before the session credential
 * expires (on the same connection), and reconnects with exponential backoff and jitter.
 *
 * Events: 'connected', 'session' (DeviceSession), 'denied' ({ code, retryAfterMs }), 'rogue' (the server failed its
 * proof; nothing was answered), 'disconnected', 'message' (topic, payload), 'refused' (ConnectRefusal, with the delay
 * before the next attempt), 'suspended' (the verifier says the device is suspended: the agent keeps trying, slowly, until
 * an operator resumes it), 'final' ({ code }: revoked or decommissioned; the agent has stopped for good), 'unavailable'
 * ({ retryAfterMs, nextAttemptMs }: the verifier could not decide, its chain does not answer; not a denial, the agent
 * tries again on the same connection after the larger of `retryAfterMs` and its backoff).
 */
export class DeviceAgent extends EventEmitter {
  private client: MqttClient | undefined;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private pending:
    | { hello: HandshakeHello; sessionId?: string; resolve: (o: HandshakeOutcome) => void; timer: NodeJS.Timeout }
    | undefined;
  private current: DeviceSession | undefined;
  /** The session login to connect with next (after a handshake whose result named one), with its session. */
  private login: { username: string; password: string; session: DeviceSession } | undefined;
  /** The current connection is being closed to reconnect with the session login (not a loss). */
  private switching = false;
  private lastRefusal: ConnectRefusal | undefined;
  private suspendedSince: number | undefined;
  private finalCode: FinalLifecycleCode | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;

  constructor(private readonly options: DeviceAgentOptions) {
    super();
    this.log = (options.log ?? silentLogger).child({ part: 'device-agent', deviceId: options.identity.deviceId });
    this.now = options.now ?? Date.now;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
  }

  get session(): DeviceSession | undefined {
    return this.current && this.current.expiresAt > this.now() ? this.current : undefined;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Set once the verifier said the device is revoked or decommissioned: the agent has stopped and will not start. */
  get finalState(): FinalLifecycleCode | undefined {
    return this.finalCode;
  }

  /** True from a suspension notice until the next granted session. */
  get suspended(): boolean {
    return this.suspendedSince !== undefined;
  }

  /** Connect and keep connected (handshake on every connect, refresh before expiry) until `stop`. */
  start(): void {
    if (!this.stopped || this.finalCode) return;
    this.stopped = false;
    this.connectOnce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
    this.cutSleep();
    this.finishPending({ ok: false, code: 'ERR_UNAVAILABLE' });
    this.current = undefined;
    this.login = undefined;
    this.switching = false;
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }

  private connectOnce(): void {
    const id = this.options.identity;
    // The session login a handshake named, once; otherwise (and after it) the device's own login.
    const login = this.login;
    const client = connect(this.options.brokerUrl, {
      protocolVersion: 4,
      clientId: id.deviceId,
      username: login?.username ?? id.deviceId,
      password: login?.password ?? deriveBrokerPassword(id.secret),
      clean: true,
      reconnectPeriod: 0, // our own backoff with jitter
      connectTimeout: 10_000,
      will: { topic: topics.status(id.deviceId), payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    this.client = client;
    // The handshake is a few small messages each way: without this, Nagle + delayed ACK add ~40 ms per round trip.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    client.on('connect', () => {
      this.lastRefusal = undefined;
      this.log.info({ event: 'connected', login: login ? 'session' : 'device' });
      this.emit('connected');
      if (login) void this.afterSessionConnect(client, login.session);
      else void this.afterConnect(client);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (e) => {
      const returnCode = (e as Error & { code?: unknown }).code;
      // A refused CONNECT (CONNACK return code): remembered, and reported with the next attempt's delay.
      if (typeof returnCode === 'number' && returnCode >= 1 && returnCode <= 5) {
        this.lastRefusal = { returnCode, message: e.message };
        return;
      }
      this.log.warn({ event: 'mqtt_error', error: e.message });
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      clearTimeout(this.refreshTimer);
      this.current = undefined;
      this.finishPending({ ok: false, code: 'ERR_UNAVAILABLE' });
      // A handshake loop waiting to try again on this connection ends here: the next connection runs its own.
      this.cutSleep();
      client.removeAllListeners('message');
      client.end(true);
      if (this.switching && !this.stopped) {
        // Closed on purpose, to come back at once with the session login.
        this.switching = false;
        this.connectOnce();
        return;
      }
      // A session login serves one connection: the next one starts from the device's own login and a handshake.
      if (login) this.login = undefined;
      this.emit('disconnected');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(delayMs?: number): void {
    if (this.stopped) return;
    const delay = delayMs ?? backoffDelay(this.attempt++, this.backoff, this.random);
    const refusal = this.lastRefusal;
    if (refusal) {
      this.lastRefusal = undefined;
      const why =
        this.suspendedSince !== undefined
          ? 'the device is suspended; waiting for an operator to resume it'
          : refusal.returnCode === 4 || refusal.returnCode === 5
            ? 'this broker does not admit the device now (suspended, revoked, decommissioned or not enrolled here)'
            : 'the broker refused the connection';
      this.log.warn({ event: 'connect_refused', returnCode: refusal.returnCode, nextAttemptMs: delay }, why);
      this.emit('refused', { ...refusal, nextAttemptMs: delay, suspended: this.suspendedSince !== undefined });
    }
    this.log.info({ event: 'reconnect_scheduled', delayMs: delay, attempt: this.attempt });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => !this.stopped && this.connectOnce(), delay);
  }

  private async afterConnect(client: MqttClient): Promise<void> {
    const id = this.options.identity.deviceId;
    try {
      await client.subscribeAsync([topics.handshake(id, 'challenge'), topics.handshake(id, 'result')], { qos: 1 });
    } catch (e) {
      this.log.warn({ event: 'subscribe_failed', error: (e as Error).message });
      client.end(true);
      return;
    }
    await this.runUntilSession();
  }

  /** Connected with the session login: the session is live (the handshake topics stay subscribed, for refreshes). */
  private async afterSessionConnect(client: MqttClient, session: DeviceSession): Promise<void> {
    const id = this.options.identity.deviceId;
    try {
      await client.subscribeAsync([topics.handshake(id, 'challenge'), topics.handshake(id, 'result')], { qos: 1 });
    } catch (e) {
      this.log.warn({ event: 'subscribe_failed', error: (e as Error).message });
      client.end(true);
      return;
    }
    this.login = undefined;
    this.attempt = 0;
    this.grantedSession(session);
  }

  private grantedSession(session: DeviceSession): void {
    this.current = session;
    if (this.suspendedSince !== undefined) this.log.info({ event: 'resumed' }, 'the device is active again');
    this.suspendedSince = undefined;
    this.scheduleRefresh(session);
    this.log.info({ event: 'session', sessionId: session.sessionId, expiresAt: session.expiresAt });
    this.emit('session', session);
  }

  /** End the current `sleep` now. */
  private cutSleep(): void {
    clearTimeout(this.retryTimer);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** A wait that `stop` and a closed connection cut short (a lockout may ask for minutes). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.retryTimer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = resolve;
    });
  }

  /**
   * Handshake until a session is granted, backing off between denials, as long as the connection it started on lasts.
   * A loop belongs to one connection: once it closes the loop ends (a wait is cut short), and the next connection's
   * loop is the only one (two loops would each cancel the other's handshake).
   */
  private async runUntilSession(): Promise<void> {
    const client = this.client;
    const current = () => !this.stopped && client !== undefined && this.client === client && client.connected;
    while (current()) {
      const outcome = await this.handshake();
      if (outcome.ok) {
        this.attempt = 0;
        return;
      }
      if (!current()) return;
      const backoff = backoffDelay(this.attempt++, this.backoff, this.random);
      // The verifier could not decide (its chain does not answer): no earlier than it asks, and backing off.
      const wait =
        outcome.code === 'ERR_HANDSHAKE_UNAVAILABLE'
          ? Math.max(outcome.retryAfterMs ?? 0, backoff)
          : (outcome.retryAfterMs ?? backoff);
      if (outcome.code === 'ERR_HANDSHAKE_UNAVAILABLE') {
        this.log.warn(
          { event: 'handshake_unavailable', nextAttemptMs: wait },
          'the verifier cannot decide now (its chain does not answer); trying again',
        );
        this.emit('unavailable', { retryAfterMs: outcome.retryAfterMs, nextAttemptMs: wait });
      }
      await this.sleep(wait);
    }
  }

  /** Run one handshake on the current connection. */
  handshake(): Promise<HandshakeOutcome> {
    const client = this.client;
    if (!client?.connected) return Promise.resolve({ ok: false, code: 'ERR_UNAVAILABLE' });
    // A handshake still under way is superseded by this one: not decided (nobody refused it), so not a denial.
    this.finishPending({ ok: false, code: 'ERR_UNAVAILABLE' });
    const hello = createHello(this.options.identity);
    return new Promise<HandshakeOutcome>((resolve) => {
      const timer = setTimeout(
        () => this.finishPending({ ok: false, code: 'ERR_UNAVAILABLE' }),
        this.options.handshakeTimeoutMs ?? 15_000,
      );
      this.pending = { hello, resolve, timer };
      client.publish(
        topics.handshake(this.options.identity.deviceId, 'hello'),
        JSON.stringify(hello),
        { qos: 1 },
        (e) => e && this.finishPending({ ok: false, code: 'ERR_UNAVAILABLE' }),
      );
    }).then((outcome) => {
      if (outcome.ok && outcome.login !== undefined) {
        // The grant is on a session login: close this connection and come back with it ('session' follows then).
        this.login = {
          username: outcome.login,
          password: deriveSessionPassword(this.options.identity.secret, outcome.session.sessionId),
          session: outcome.session,
        };
        this.log.info({ event: 'session_login', sessionId: outcome.session.sessionId });
        if (this.client === client && !this.stopped) {
          this.switching = true;
          client.end();
        }
      } else if (outcome.ok) {
        this.grantedSession(outcome.session);
      } else if (outcome.code !== 'ERR_UNAVAILABLE' && outcome.code !== 'ERR_HANDSHAKE_UNAVAILABLE') {
        this.log.warn({ event: 'handshake_failed', code: outcome.code, retryAfterMs: outcome.retryAfterMs });
        if (outcome.code === 'ERR_HANDSHAKE_SERVER_PROOF') this.emit('rogue');
        else this.emit('denied', { code: outcome.code, retryAfterMs: outcome.retryAfterMs });
      }
      return outcome;
    });
  }

  private finishPending(outcome: HandshakeOutcome): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.resolve(outcome);
  }

  private scheduleRefresh(session: DeviceSession): void {
    clearTimeout(this.refreshTimer);
    const before = (this.options.refreshBeforeS ?? DEVICE_SESSION_REFRESH_BEFORE_S) * 1000;
    const delay = Math.max(0, session.expiresAt - before - this.now());
    // A refresh is a new handshake on the same connection: the broker widens the grant again, nothing is dropped.
    this.refreshTimer = setTimeout(() => void this.runUntilSession(), delay);
  }

  /** Refresh now (tests, or after a role change). */
  refresh(): Promise<HandshakeOutcome> {
    return this.handshake();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const id = this.options.identity;
    if (topic === topics.handshake(id.deviceId, 'challenge')) this.onChallenge(payload);
    else if (topic === topics.handshake(id.deviceId, 'result')) this.onResult(payload);
    else this.emit('message', topic, payload);
  }

  private onChallenge(payload: Buffer): void {
    const p = this.pending;
    if (!p || p.sessionId) return; // not waiting for a challenge: ignore
    const parsed = parseHandshakeMessage('challenge', payload);
    if (!parsed.ok) {
      this.finishPending({ ok: false, code: 'ERR_HANDSHAKE_MALFORMED' });
      return;
    }
    const answer = answerChallenge(this.options.identity, p.hello, parsed.value as HandshakeChallenge);
    if (!answer.ok) {
      // Rogue server (or a transcript mismatch): answer nothing (mutual).
      this.finishPending({ ok: false, code: answer.error.code });
      return;
    }
    p.sessionId = parsed.value.sessionId;
    this.client?.publish(
      topics.handshake(this.options.identity.deviceId, 'response'),
      JSON.stringify(answer.value.response),
      { qos: 1 },
    );
  }

  /** The verifier says the chain keeps the device out: wait (suspended) or stop for good (revoked, decommissioned). */
  private onLifecycle(code: LifecycleCode): void {
    if (code === 'ERR_DEVICE_SUSPENDED') {
      if (this.suspendedSince === undefined) {
        this.suspendedSince = this.now();
        this.log.warn({ event: 'suspended', code }, 'the device is suspended; waiting for an operator to resume it');
        this.emit('suspended', { code });
      }
      return;
    }
    if (this.finalCode) return;
    this.finalCode = code;
    this.log.error(
      { event: 'final', code },
      `the device is ${code === 'ERR_DEVICE_REVOKED' ? 'revoked' : 'decommissioned'}; stopping for good`,
    );
    const wasConnected = this.connected;
    void this.stop().then(() => {
      if (wasConnected) this.emit('disconnected');
      this.emit('final', { code });
    });
  }

  private onResult(payload: Buffer): void {
    const parsed = parseHandshakeMessage('result', payload);
    if (!parsed.ok) return;
    const r = parsed.value;
    const p = this.pending;
    // A lifecycle notice comes with or without a handshake under way (the verifier sends one as the chain changes).
    if (!r.ok && isLifecycleCode(r.code) && (r.sessionId === undefined || r.sessionId === p?.sessionId)) {
      this.finishPending({ ok: false, code: r.code });
      this.onLifecycle(r.code);
      return;
    }
    if (!p) return;
    // The answer must be for the handshake under way: to its response (its session), or, before its challenge came,
    // to its hello (no session). A late answer to an earlier attempt names another session, or none once this one
    // has its challenge, and is ignored.
    if (r.sessionId !== p.sessionId) return;
    if (!r.ok) {
      this.finishPending({
        ok: false,
        code: r.code,
        ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}),
      });
      return;
    }
    this.finishPending({
      ok: true,
      session: { sessionId: r.sessionId, credential: r.credential, expiresAt: r.expiresAt, permissions: r.permissions },
      ...(r.login === undefined ? {} : { login: r.login }),
    });
  }

  /** Publish on one of the device's own topics (needs a session that permits it). */
  async publish(topic: string, payload: string | Buffer): Promise<void> {
    const c = this.client;
    if (!c?.connected) throw new Error('not connected');
    await c.publishAsync(topic, payload, { qos: 1 });
  }

  async subscribe(filter: string): Promise<number> {
    const c = this.client;
    if (!c?.connected) throw new Error('not connected');
    return subscribeQos(c, filter);
  }

  /** Resolves on the next event of that name (tests and the CLI). */
  next(
    event:
      | 'session'
      | 'denied'
      | 'unavailable'
      | 'rogue'
      | 'connected'
      | 'disconnected'
      | 'refused'
      | 'suspended'
      | 'final',
  ): Promise<unknown[]> {
    return once(this, event);
  }
}
