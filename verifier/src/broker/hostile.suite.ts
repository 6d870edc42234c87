/**
 * Hostile input on the MQTT side, for every broker adapter (the MQTT counterpart of the JWT refusals in
 * verifier/src/vc/verify.test.ts): raw bytes before and after CONNECT, oversized and lying lengths, takeovers of a
 * client id, retained flags, wrong topics and malformed handshake JSON, each against a real broker over TCP with the
 * real handshake responder behind it. Nothing reaches the chain: every message here must be refused before the
 * responder reads a device record (`readStatus` fails the test if it is called). The last test prints what was sent
 * and what was checked.
 *
 *   mqttHostileSuite('aedes', async () => new AedesBrokerAdapter({ port: 0 }), { beforeConnectLimit: 4096 });
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  deviceIdOf,
  HANDSHAKE_MAX_MESSAGE_BYTES,
  MQTT_MAX_PACKET_BYTES,
  parseHandshakeMessage,
  topics,
} from '@tessera/protocol';
import type { Resolvable } from 'did-resolver';
import { Wallet } from 'ethers';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MemoryHandshakeLimiter } from '../handshake/limiter.js';
import { HandshakeResponder } from '../handshake/responder.js';
import { FileDeviceSecretVault } from '../handshake/vault.js';
import { MemoryNonceStore } from '../vc/nonce-store.js';
import type { BrokerAdapter } from './adapter.js';

export interface HostileExpectations {
  /**
   * The largest packet the broker reads before a CONNECT is accepted (aedes: MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT;
   * Mosquitto has one limit for every phase, MQTT_MAX_PACKET_BYTES).
   */
  beforeConnectLimit: number;
}

/** What the suite sent and what it checked, printed at the end. */
const tally = { sent: new Map<string, number>(), checked: new Map<string, number>() };
const sent = (what: string, n = 1) => tally.sent.set(what, (tally.sent.get(what) ?? 0) + n);
const checked = (what: string, n = 1) => tally.checked.set(what, (tally.checked.get(what) ?? 0) + n);

/** MQTT's variable-length remaining length (§2.2.3). */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** The fixed header of a packet of `type` that is `total` bytes long on the wire, and its remaining length. */
function headerOfTotal(type: number, total: number): { header: Buffer; remaining: number } {
  for (let lengthBytes = 1; lengthBytes <= 4; lengthBytes++) {
    const remaining = total - 1 - lengthBytes;
    if (varint(remaining).length === lengthBytes)
      return { header: Buffer.from([type << 4, ...varint(remaining)]), remaining };
  }
  throw new Error(`no packet of ${total} bytes`);
}

/** A QoS 0 PUBLISH of exactly `total` bytes on the wire (fixed header included), payload filled with `fill`. */
function publishOfSize(topic: string, total: number, fill = 0x20): Buffer {
  const t = Buffer.from(topic);
  for (let lengthBytes = 1; lengthBytes <= 4; lengthBytes++) {
    const remaining = total - 1 - lengthBytes;
    if (varint(remaining).length !== lengthBytes) continue;
    const payload = Buffer.alloc(remaining - 2 - t.length, fill);
    return Buffer.concat([Buffer.from([0x30, ...varint(remaining), t.length >> 8, t.length & 0xff]), t, payload]);
  }
  throw new Error(`no PUBLISH of ${total} bytes`);
}

const generate = (p: Record<string, unknown>) => mqttPacket.generate(p as unknown as Packet, { protocolVersion: 4 });

/** One TCP connection speaking raw bytes, with the packets the broker sent back parsed. */
class Wire {
  private readonly packets: Packet[] = [];
  private readonly waiters: ((p: Packet | 'closed') => void)[] = [];
  readonly closed: Promise<'closed'>;
  isClosed = false;

  private constructor(readonly sock: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      const w = this.waiters.shift();
      if (w) w(p);
      else this.packets.push(p);
    });
    parser.on('error', () => sock.destroy());
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', () => {});
    this.closed = new Promise((resolve) =>
      sock.once('close', () => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w('closed');
        resolve('closed');
      }),
    );
  }

  static async open(url: string): Promise<Wire> {
    const { hostname, port } = new URL(url);
    const sock = tcpConnect({ host: hostname, port: Number(port), noDelay: true });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    return new Wire(sock);
  }

  write(bytes: Uint8Array, what: string): void {
    sent(what);
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  /** The next packet from the broker, or 'closed'. */
  next(): Promise<Packet | 'closed'> {
    const p = this.packets.shift();
    if (p) return Promise.resolve(p);
    if (this.isClosed) return Promise.resolve('closed');
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** CONNECT as a device; the CONNACK return code, or 'closed'. */
  async login(deviceId: string, password: string): Promise<number | 'closed'> {
    this.write(
      generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: deviceId,
        keepalive: 60,
        username: deviceId,
        password: Buffer.from(password),
      }),
      'CONNECT',
    );
    const p = await this.next();
    return p === 'closed' ? 'closed' : (p as { returnCode: number }).returnCode;
  }

  /** SUBSCRIBE one filter at QoS 1: the SUBACK return code (0x80 = refused), or 'closed'. */
  async subscribe(filter: string): Promise<number | 'closed'> {
    const messageId = 1 + Math.floor(Math.random() * 60_000);
    this.write(generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 1 }] }), 'SUBSCRIBE');
    for (;;) {
      const p = await this.next();
      if (p === 'closed') return 'closed';
      if (p.cmd === 'suback') return (p as { granted: number[] }).granted[0] ?? -1;
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

export function mqttHostileSuite(name: string, makeBroker: () => Promise<BrokerAdapter>, expect: HostileExpectations) {
  describe(`MQTT hostile input (${name})`, () => {
    let broker: BrokerAdapter;
    let dir: string;
    let chainReads = 0;
    /** Every message the verifier side received: `${topic} ${payload}` (payloads cut at 64 characters). */
    const seen: string[] = [];
    const arrivals: (() => void)[] = [];
    const wires: Wire[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-hostile-'));
      broker = await makeBroker();
      await broker.start();
      await broker.subscribe(`${topics.handshakeInbound('hello').split('/+/')[0]}/#`, (topic, payload) => {
        seen.push(`${topic} ${payload.toString('utf8').slice(0, 64)}`);
        for (const wake of arrivals.splice(0)) wake();
      });
      const responder = new HandshakeResponder({
        broker,
        readStatus: async () => {
          chainReads++;
          throw new Error('hostile input must be refused before any chain read');
        },
        vault: new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32)),
        resolver: {
          resolve: async () => {
            throw new Error('hostile input must be refused before any DID resolution');
          },
        } as unknown as Resolvable,
        challenges: new MemoryNonceStore(),
        limiter: new MemoryHandshakeLimiter(),
        issuer: {
          did: 'did:ethr:0x7a69:0x0000000000000000000000000000000000000001',
          privateKey: Wallet.createRandom().privateKey,
        },
        chainId: 31337,
      });
      await responder.start();
    });

    after(async () => {
      for (const w of wires) w.close();
      await broker?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const wire = async () => {
      const w = await Wire.open(broker.url);
      wires.push(w);
      return w;
    };

    /** A fresh enrolled device (fresh, so one case's failures never lock another's device out). */
    const device = async () => {
      const d = {
        deviceId: deviceIdOf('hostile', randomBytes(8).toString('hex')),
        password: randomBytes(32).toString('base64url'),
      };
      await broker.enrol(d);
      return d;
    };

    /** A device's authenticated raw connection, with the adapter told of it (Mosquitto hears of it by notice). */
    const loggedIn = async (d: { deviceId: string; password: string }) => {
      const applied = broker.nextConnection?.(d.deviceId);
      const w = await wire();
      assert.equal(await w.login(d.deviceId, d.password), 0, 'CONNACK accepted');
      await applied;
      return w;
    };

    /** Resolves once `line` reached the verifier side. */
    const arrived = (line: string) =>
      new Promise<void>((resolve) => {
        const check = () => (seen.includes(line) ? resolve() : arrivals.push(check));
        check();
      });

    /**
     * `bytes` (a PUBLISH the device may not send) must not reach the verifier: either the broker closes the
     * connection, or a permitted sentinel sent after it on the same connection arrives first (MQTT §4.6 order).
     */
    async function refusedPublish(w: Wire, d: { deviceId: string }, bytes: Uint8Array, marker: string, what: string) {
      w.write(bytes, what);
      const tag = randomBytes(6).toString('hex');
      const hello = topics.handshake(d.deviceId, 'hello');
      w.write(
        generate({ cmd: 'publish', topic: hello, payload: Buffer.from(`sentinel ${tag}`), qos: 0 }),
        'PUBLISH sentinel',
      );
      const outcome = await Promise.race([
        w.closed,
        arrived(`${hello} sentinel ${tag}`).then(() => 'sentinel' as const),
      ]);
      assert.ok(!seen.some((s) => s.includes(marker)), `${what} was delivered`);
      checked(
        outcome === 'closed' ? 'refused publish: connection closed' : 'refused publish: dropped, sentinel passed',
      );
      return outcome;
    }

    /** The connection must be closed by the broker (after `bytes`, if given). */
    async function closedBy(w: Wire, bytes: Uint8Array | undefined, what: string) {
      if (bytes) w.write(bytes, what);
      // Anything the broker answered before closing is not an acceptance of these bytes: read until the close.
      for (;;) {
        const p = await w.next();
        if (p === 'closed') break;
        assert.notEqual(p.cmd, 'connack', `${what} earned a CONNACK`);
      }
      checked('connection closed by the broker');
    }

    const refusedCount = async (phase: 'refusedBeforeConnect' | 'refusedAfterConnect', atLeast: number) => {
      // Mosquitto's adapter counts from the broker's notice, which comes a moment after the close.
      for (let i = 0; i < 500 && broker.packetStats[phase] < atLeast; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(broker.packetStats[phase] >= atLeast, `${phase} ${broker.packetStats[phase]} < ${atLeast}`);
      checked(`counted in packetStats.${phase}`);
    };

    // ------------------------------------------------------------------------------------------- before CONNECT

    it('closes a connection whose CONNECT announces 268,435,455 bytes after its 5-byte header, and counts it', async () => {
      const before = broker.packetStats.refusedBeforeConnect;
      const w = await wire();
      w.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), 'CONNECT header announcing 268,435,455 bytes');
      w.write(Buffer.alloc(64 * 1024, 0x41), '64 KiB of junk body');
      await closedBy(w, undefined, 'a 256 MB CONNECT');
      await refusedCount('refusedBeforeConnect', before + 1);
    });

    it('refuses a CONNECT over the pre-CONNECT limit by its header; one under it is read and judged', async () => {
      const w = await wire();
      const over = headerOfTotal(1, expect.beforeConnectLimit + 8);
      w.write(over.header, `CONNECT header announcing ${expect.beforeConnectLimit + 8} bytes`);
      w.write(Buffer.alloc(over.remaining, 0x00), 'its body');
      await closedBy(w, undefined, 'an oversized CONNECT');
      // Under the limit the CONNECT is read and judged on its content (here: a wrong password, CONNACK refusal).
      const d = await device();
      const connect = generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: d.deviceId,
        keepalive: 60,
        username: d.deviceId,
        password: Buffer.alloc(200, 0x41),
      });
      assert.ok(connect.length < expect.beforeConnectLimit);
      const ok = await wire();
      ok.write(connect, 'CONNECT with a wrong password');
      const answer = await ok.next();
      assert.ok(answer !== 'closed' && answer.cmd === 'connack', 'read and answered');
      assert.ok([4, 5].includes((answer as { returnCode: number }).returnCode), 'bad credentials');
      checked('CONNECT with a wrong password refused with CONNACK 4/5');
    });

    it('closes a connection whose remaining length runs past four bytes (MQTT 3.1.1 §2.2.3)', async () => {
      const w = await wire();
      await closedBy(w, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), 'a five-byte remaining length');
    });

    it('closes a connection whose CONNECT fields claim more than its length (a lying length)', async () => {
      const w = await wire();
      // remaining length 16, but the client id claims 5,000 bytes
      const body = Buffer.concat([
        Buffer.from([0x00, 0x04]),
        Buffer.from('MQTT'),
        Buffer.from([0x04, 0x02, 0x00, 0x3c, 0x13, 0x88]),
        Buffer.from('abcd'),
      ]);
      await closedBy(w, Buffer.concat([Buffer.from([0x10, body.length]), body]), 'a CONNECT with a lying field length');
    });

    it('closes a connection that sends a PUBLISH, or no MQTT at all, before CONNECT; nothing is delivered', async () => {
      const d = await device();
      const marker = `early-${randomBytes(4).toString('hex')}`;
      const early = await wire();
      await closedBy(
        early,
        generate({
          cmd: 'publish',
          topic: topics.handshake(d.deviceId, 'hello'),
          payload: Buffer.from(marker),
          qos: 0,
        }),
        'a PUBLISH before CONNECT',
      );
      const http = await wire();
      await closedBy(http, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'an HTTP request');
      assert.ok(!seen.some((s) => s.includes(marker)));
      checked('nothing delivered');
    });

    // -------------------------------------------------------------------------------------------- after CONNECT

    it('closes a device connection that announces a 16 MiB PUBLISH, and counts it after CONNECT', async () => {
      const before = broker.packetStats.refusedAfterConnect;
      const d = await device();
      const w = await loggedIn(d);
      const topic = Buffer.from(topics.handshake(d.deviceId, 'hello'));
      const remaining = 16 * 1024 * 1024;
      w.write(
        Buffer.from([0x30, ...varint(remaining), topic.length >> 8, topic.length & 0xff]),
        'PUBLISH header announcing 16 MiB',
      );
      w.write(topic, 'its topic');
      w.write(Buffer.alloc(64 * 1024, 0x42), '64 KiB of its body');
      await closedBy(w, undefined, 'a 16 MiB PUBLISH');
      await refusedCount('refusedAfterConnect', before + 1);
    });

    it('reads a PUBLISH just under MQTT_MAX_PACKET_BYTES (the responder refuses the >8 KiB message) and closes one over', async () => {
      const d = await device();
      const w = await loggedIn(d);
      assert.equal(await w.subscribe(topics.handshake(d.deviceId, 'result')), 1);
      const hello = topics.handshake(d.deviceId, 'hello');
      const under = publishOfSize(hello, MQTT_MAX_PACKET_BYTES - 2);
      assert.ok(under.length - hello.length - 5 > HANDSHAKE_MAX_MESSAGE_BYTES, 'the message is over the 8 KiB rule');
      w.write(under, `PUBLISH of ${under.length} bytes`);
      const result = await w.next();
      assert.ok(result !== 'closed' && result.cmd === 'publish', 'the verifier answered on the result topic');
      const r = parseHandshakeMessage('result', (result as { payload: Buffer }).payload);
      assert.ok(r.ok && !r.value.ok && r.value.code === 'ERR_HANDSHAKE_MALFORMED', JSON.stringify(r));
      checked('8 KiB rule answered ERR_HANDSHAKE_MALFORMED');
      await closedBy(
        w,
        publishOfSize(hello, MQTT_MAX_PACKET_BYTES + 8),
        `PUBLISH of ${MQTT_MAX_PACKET_BYTES + 8} bytes`,
      );
    });

    it('a wrong-password takeover leaves the device connected; a right-password takeover gets handshake topics only', async () => {
      const d = await device();
      const honest = await loggedIn(d);
      const thief = await wire();
      const code = await thief.login(d.deviceId, `${d.password}x`);
      assert.ok(code === 'closed' || [4, 5].includes(code), `refused (${code})`);
      assert.equal(await honest.subscribe(topics.handshake(d.deviceId, 'challenge')), 1, 'the honest connection lives');
      checked('wrong-password takeover refused, device still connected');
      // with the broker password (not K): the honest connection is closed, and nothing is inherited
      const commands = topics.command(d.deviceId, 'x').replace(/x$/, '#');
      const taker = await loggedIn(d);
      await honest.closed;
      assert.equal(await taker.subscribe(commands), 0x80);
      checked('takeover closed the old connection and got handshake topics only');
    });

    it('refuses retained messages from a device, wherever they go', async () => {
      for (const [topicOf, what] of [
        [(id: string) => topics.handshake(id, 'hello'), 'a retained hello'],
        [(id: string) => topics.status(id), 'a retained status'],
      ] as const) {
        const d = await device();
        const w = await loggedIn(d);
        const marker = `retained-${randomBytes(4).toString('hex')}`;
        w.write(
          generate({
            cmd: 'publish',
            topic: topicOf(d.deviceId),
            payload: Buffer.from(marker),
            qos: 1,
            messageId: 7,
            retain: true,
          }),
          what,
        );
        await w.closed;
        assert.ok(!seen.some((s) => s.includes(marker)), `${what} was delivered`);
        checked('retained publish: connection closed, nothing delivered');
      }
    });

    it('refuses wrong topics: other devices, the broker’s, wildcards, empty, NUL, and subscriptions outside its own', async () => {
      const other = await device();
      const publishTo = (topic: string, marker: string) =>
        generate({ cmd: 'publish', topic, payload: Buffer.from(marker), qos: 0 });
      const cases: [string, (id: string) => string][] = [
        ["another device's hello", () => topics.handshake(other.deviceId, 'hello')],
        ["another device's telemetry", () => topics.telemetry(other.deviceId, 'meter')],
        ['its own telemetry before a handshake', (id) => topics.telemetry(id, 'meter')],
        ['$SYS', () => '$SYS/broker/log/N'],
        ['$CONTROL', () => '$CONTROL/dynamic-security/v1'],
      ];
      for (const [what, topicOf] of cases) {
        const d = await device();
        const w = await loggedIn(d);
        const marker = `wrong-${randomBytes(4).toString('hex')}`;
        await refusedPublish(w, d, publishTo(topicOf(d.deviceId), marker), marker, `PUBLISH to ${what}`);
      }
      // Not topics at all: a wildcard, an empty topic, a NUL (§4.7.3, §1.5.3): the connection is closed.
      for (const [what, topic] of [
        ['a wildcard topic', 'tessera/v1/devices/#'],
        ['an empty topic', ''],
        ['a topic with NUL', 'tessera/\u0000/x'],
      ] as const) {
        const d = await device();
        const w = await loggedIn(d);
        const t = Buffer.from(topic);
        await closedBy(
          w,
          Buffer.concat([Buffer.from([0x30, 2 + t.length + 1, 0, t.length]), t, Buffer.from('M')]),
          `PUBLISH to ${what}`,
        );
      }
      const d = await device();
      const w = await loggedIn(d);
      for (const filter of [
        '#',
        '$SYS/#',
        'tessera/v1/devices/+/commands/#',
        topics.handshake(other.deviceId, 'challenge'),
        topics.command(d.deviceId, 'x').replace(/x$/, '#'),
      ]) {
        assert.equal(await w.subscribe(filter), 0x80, filter);
        checked('SUBACK 0x80');
      }
    });

    it('answers malformed handshake JSON with ERR_HANDSHAKE_MALFORMED, before any chain read', async () => {
      const d0 = await device();
      const hello = (id: string) =>
        JSON.stringify({
          type: 'hello',
          v: 1,
          deviceId: id,
          did: 'did:ethr:0x7a69:0x0000000000000000000000000000000000000002',
          clientNonce: 'c0'.repeat(32),
          fingerprint: `0x${'ab'.repeat(32)}`,
          suite: 'OCRA-1:HOTP-SHA256-8:QH64-S064',
        });
      const payloads: [string, 'hello' | 'response', (id: string) => Buffer, string][] = [
        ['truncated JSON', 'hello', () => Buffer.from('{"type":"hello",'), 'ERR_HANDSHAKE_MALFORMED'],
        ['an array', 'hello', () => Buffer.from('[]'), 'ERR_HANDSHAKE_MALFORMED'],
        ['a string', 'hello', () => Buffer.from('"hello"'), 'ERR_HANDSHAKE_MALFORMED'],
        ['null', 'hello', () => Buffer.from('null'), 'ERR_HANDSHAKE_MALFORMED'],
        ['an empty payload', 'hello', () => Buffer.alloc(0), 'ERR_HANDSHAKE_MALFORMED'],
        ['not UTF-8', 'hello', () => Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), 'ERR_HANDSHAKE_MALFORMED'],
        [
          '500 nested arrays',
          'hello',
          () => Buffer.from(`${'['.repeat(500)}${']'.repeat(500)}`),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        [
          'an unknown field',
          'hello',
          (id) => Buffer.from(hello(id).replace('{', '{"admin":true,')),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        [
          'a wrong type',
          'hello',
          (id) => Buffer.from(hello(id).replace('"v":1', '"v":"1"')),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        [
          'a bad nonce',
          'hello',
          (id) => Buffer.from(hello(id).replace('c0'.repeat(32), 'zz')),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        ['8 KiB + 1', 'hello', () => Buffer.alloc(HANDSHAKE_MAX_MESSAGE_BYTES + 1, 0x20), 'ERR_HANDSHAKE_MALFORMED'],
        ["another device's id", 'hello', () => Buffer.from(hello(d0.deviceId)), 'ERR_HANDSHAKE_DENIED'],
        ['a response that is not JSON', 'response', () => Buffer.from('RC=12345678'), 'ERR_HANDSHAKE_MALFORMED'],
        [
          'a response with a short signature',
          'response',
          () =>
            Buffer.from(
              JSON.stringify({
                type: 'response',
                v: 1,
                sessionId: '00'.repeat(16),
                ocra: '12345678',
                alg: 'ES256K-R',
                signature: 'AA',
              }),
            ),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        [
          'a response with alg none',
          'response',
          () =>
            Buffer.from(
              JSON.stringify({
                type: 'response',
                v: 1,
                sessionId: '00'.repeat(16),
                ocra: '12345678',
                alg: 'none',
                signature: 'A'.repeat(87),
              }),
            ),
          'ERR_HANDSHAKE_MALFORMED',
        ],
        [
          'a response to a session that never was',
          'response',
          () =>
            Buffer.from(
              JSON.stringify({
                type: 'response',
                v: 1,
                sessionId: '00'.repeat(16),
                ocra: '12345678',
                alg: 'ES256K-R',
                signature: 'A'.repeat(87),
              }),
            ),
          'ERR_HANDSHAKE_DENIED',
        ],
      ];
      for (const [what, step, payload, code] of payloads) {
        const d = await device();
        const w = await loggedIn(d);
        assert.equal(await w.subscribe(topics.handshake(d.deviceId, 'result')), 1);
        w.write(
          generate({ cmd: 'publish', topic: topics.handshake(d.deviceId, step), payload: payload(d.deviceId), qos: 0 }),
          `${step} with ${what}`,
        );
        const answer = await w.next();
        assert.ok(answer !== 'closed' && answer.cmd === 'publish', `${what}: answered`);
        const r = parseHandshakeMessage('result', (answer as { payload: Buffer }).payload);
        assert.ok(r.ok && !r.value.ok, `${what}: a denial`);
        assert.equal(!r.value.ok && r.value.code, code, what);
        checked(`${step}: ${code}`);
      }
      assert.equal(chainReads, 0, 'the chain was never read');
      checked('no chain read for hostile input');
    });

    it('reports what it sent and what it checked', (t) => {
      const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      t.diagnostic(
        `mqtt hostile (${name}): sent ${sum(tally.sent)} packets/fragments, checked ${sum(tally.checked)} outcomes`,
      );
      for (const [k, n] of tally.sent) t.diagnostic(`  sent    ${String(n).padStart(4)}  ${k}`);
      for (const [k, n] of tally.checked) t.diagnostic(`  checked ${String(n).padStart(4)}  ${k}`);
      t.diagnostic(
        `  broker packetStats: before CONNECT ${broker.packetStats.refusedBeforeConnect}, after ${broker.packetStats.refusedAfterConnect}`,
      );
      assert.ok(sum(tally.checked) >= 40, 'every case checked something');
    });
  });
}
