import { answerChallenge, createHello, type DeviceIdentity, deviceTranscript, signDigest } from '@tessera/device-agent';
import {
  deriveBrokerPassword,
  type ErrorCode,
  HANDSHAKE_SUITE,
  HANDSHAKE_VERSION,
  type HandshakeChallenge,
  type HandshakeHello,
  type HandshakeResponse,
  type HandshakeResult,
  ocraClientResponse,
  parseHandshakeMessage,
  topics,
  transcriptDigest,
} from '@tessera/protocol';
import { connect, type MqttClient } from 'mqtt';

/** The coarse outcome of one step, as a device sees it. */
export type StepOutcome =
  | { kind: 'challenge'; challenge: HandshakeChallenge }
  | { kind: 'result'; result: HandshakeResult }
  | { kind: 'timeout' }
  | { kind: 'closed' };

/** Code recorded when the broker refuses the MQTT CONNECT (CONNACK 4/5) or closes before CONNACK. */
export const BROKER_REFUSED: ErrorCode = 'ERR_BROKER_REFUSED';

/**
 * A raw MQTT 3.1.1 device connection that can send anything: what the attacker scenarios use (an honest device runs
 * the real DeviceAgent). Every wait has a timeout, so a silent broker is an error, never a hang.
 */
export class RawDeviceClient {
  /** Handshake replies in arrival order (challenge and result topics). */
  private readonly inbox: { topic: string; payload: Buffer }[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(
    readonly client: MqttClient,
    readonly id: DeviceIdentity,
  ) {
    client.on('message', (topic, payload) => {
      this.inbox.push({ topic, payload });
      this.waiter?.();
    });
    client.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /**
   * Connect with the password derived from `passwordSecret` (default: the device's own) and subscribe to its
   * handshake replies. Resolves with the client, or `refused` when the broker refuses the connection.
   */
  static async connect(
    url: string,
    id: DeviceIdentity,
    o: { passwordSecret?: Uint8Array; timeoutMs?: number } = {},
  ): Promise<RawDeviceClient | 'refused' | 'timeout'> {
    const client = connect(url, {
      protocolVersion: 4,
      clientId: id.deviceId,
      username: id.deviceId,
      password: deriveBrokerPassword(o.passwordSecret ?? id.secret),
      reconnectPeriod: 0,
      connectTimeout: o.timeoutMs ?? 10_000,
    });
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    const r = await new Promise<'ok' | 'refused' | 'timeout'>((resolve) => {
      client.once('connect', () => resolve('ok'));
      client.once('error', (e) => resolve(/timeout/i.test(e.message) ? 'timeout' : 'refused'));
      client.once('close', () => resolve('refused'));
    });
    if (r !== 'ok') {
      client.end(true);
      return r;
    }
    const d = new RawDeviceClient(client, id);
    try {
      await client.subscribeAsync(
        [topics.handshake(id.deviceId, 'challenge'), topics.handshake(id.deviceId, 'result')],
        { qos: 1 },
      );
    } catch {
      client.end(true);
      return 'refused';
    }
    return d;
  }

  /** The next challenge or result (a challenge only when `wantChallenge`; stale challenges are skipped). */
  private async reply(timeoutMs: number, wantChallenge: boolean): Promise<StepOutcome> {
    const deadline = Date.now() + timeoutMs;
    const ct = topics.handshake(this.id.deviceId, 'challenge');
    for (;;) {
      const m = this.inbox.shift();
      if (m) {
        if (m.topic === ct) {
          if (!wantChallenge) continue;
          const c = parseHandshakeMessage('challenge', m.payload);
          if (c.ok) return { kind: 'challenge', challenge: c.value };
        } else {
          const r = parseHandshakeMessage('result', m.payload);
          if (r.ok) return { kind: 'result', result: r.value };
        }
        continue;
      }
      if (this.closed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  async hello(h: HandshakeHello = createHello(this.id), timeoutMs = 10_000): Promise<StepOutcome> {
    this.inbox.length = 0;
    this.client.publish(topics.handshake(this.id.deviceId, 'hello'), JSON.stringify(h), { qos: 1 });
    return this.reply(timeoutMs, true);
  }

  async respond(response: HandshakeResponse, timeoutMs = 10_000): Promise<StepOutcome> {
    this.client.publish(topics.handshake(this.id.deviceId, 'response'), JSON.stringify(response), { qos: 1 });
    return this.reply(timeoutMs, false);
  }

  /** A genuine handshake (to capture a response): hello, check the server proof, answer. */
  async genuine(): Promise<{
    hello: HandshakeHello;
    challenge?: HandshakeChallenge;
    response?: HandshakeResponse;
    outcome: StepOutcome | { kind: 'server-proof' };
  }> {
    const hello = createHello(this.id);
    const c = await this.hello(hello);
    if (c.kind !== 'challenge') return { hello, outcome: c };
    const a = answerChallenge(this.id, hello, c.challenge);
    if (!a.ok) return { hello, challenge: c.challenge, outcome: { kind: 'server-proof' } };
    return { hello, challenge: c.challenge, response: a.value.response, outcome: await this.respond(a.value.response) };
  }

  close(): void {
    this.client.end(true);
  }
}

/**
 * What a device that ignores the server proof sends: RC and a signature over its own view of the transcript, with
 * any part replaced (another secret, key or fingerprint).
 */
export function forcedResponse(
  id: DeviceIdentity,
  hello: HandshakeHello,
  challenge: HandshakeChallenge,
  over: { secret?: Uint8Array; privateKey?: string; fingerprint?: string } = {},
): HandshakeResponse {
  const t = deviceTranscript({ ...id, fingerprint: over.fingerprint ?? id.fingerprint }, hello, challenge);
  const digest = transcriptDigest(t);
  return {
    type: 'response',
    v: HANDSHAKE_VERSION,
    sessionId: challenge.sessionId,
    ocra: ocraClientResponse(HANDSHAKE_SUITE, over.secret ?? id.secret, {
      clientChallenge: hello.clientNonce,
      serverChallenge: challenge.serverNonce,
      session: digest,
    }),
    alg: 'ES256K-R',
    signature: signDigest(over.privateKey ?? id.privateKey, digest),
  };
}
