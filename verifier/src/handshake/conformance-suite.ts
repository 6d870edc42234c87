/**
 * The handshake conformance suite: one set of behaviours every broker adapter must
 * show with the real responder, a real anvil, a real broker over TCP and real MQTT clients. `handshake.test.ts` runs it
 * against the embedded aedes broker; the Mosquitto adapter runs the very same function under `npm run test:services`.
 *
 *   import { handshakeConformanceSuite } from './conformance-suite.js';
 *   handshakeConformanceSuite('aedes', async () => new AedesBrokerAdapter({ port: 0 }));
 *
 * The factory is called twice: once for the broker under test and once for a rogue broker (a server that does not know
 * the device secret). Each returned adapter is started and stopped by the suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  buildDeviceBatch,
  type DeviceRegistry,
  DeviceRegistry__factory,
  EthereumDIDRegistry__factory,
  ensureDeployed,
  makeProvider,
  readDeviceStatus,
  startAnvil,
} from '@tessera/contracts';
import {
  answerChallenge,
  createHello,
  DeviceAgent,
  type DeviceIdentity,
  type DeviceSession,
  deviceTranscript,
  signDigest,
  subscribeQos,
} from '@tessera/device-agent';
import {
  DEVICE_SESSION_TTL_S,
  deriveBrokerPassword,
  deriveSessionPassword,
  deviceFingerprint,
  deviceTopicPermissions,
  deviceIdOf,
  generateDeviceSecret,
  HANDSHAKE_CHALLENGE_TTL_MS,
  HANDSHAKE_SUITE,
  HANDSHAKE_VERSION,
  type HandshakeChallenge,
  type HandshakeHello,
  type HandshakeResponse,
  type HandshakeResult,
  ocraClientResponse,
  parseHandshakeMessage,
  secretCommitment,
  topics,
  transcriptDigest,
} from '@tessera/protocol';
import { verifyCredential } from 'did-jwt-vc';
import { type JsonRpcProvider, Wallet } from 'ethers';
import { connect, type MqttClient } from 'mqtt';
import type { BrokerAdapter } from '../broker/adapter.js';
import type { CachedDidResolver } from '../resolver/cached-resolver.js';
import { createDidResolver, type DidResolution } from '../resolver/create.js';
import { MemoryNonceStore } from '../vc/nonce-store.js';
import { MemoryHandshakeLimiter } from './limiter.js';
import type { HandshakeResponder } from './responder.js';
import type { DeviceStateWatcher } from './revocation-watcher.js';
import { FileDeviceSecretVault } from './vault.js';
import { type DeviceHandshakeService, startDeviceHandshakeService } from './service.js';

export type BrokerFactory = () => Promise<BrokerAdapter>;

interface TestDevice {
  identity: DeviceIdentity;
  serial: string;
}

/** A raw MQTT 3.1.1 client that can send anything, for the cases an honest agent would never produce. */
class RawDevice {
  /** How long a test waits for a broker message before failing (a guard against hanging, not a timing assertion). */
  static readonly WAIT_MS = 30_000;
  private readonly queues = new Map<string, Buffer[]>();
  private readonly waiters = new Map<string, { resolve: (b: Buffer) => void; reject: (e: Error) => void }[]>();

  private constructor(
    public client: MqttClient,
    readonly id: DeviceIdentity,
    readonly url: string,
  ) {
    this.attach(client);
  }

  private attach(client: MqttClient): void {
    client.on('message', (topic, payload) => {
      const w = this.waiters.get(topic)?.shift();
      if (w) w.resolve(payload);
      else this.queues.set(topic, [...(this.queues.get(topic) ?? []), payload]);
    });
    client.on('close', () => {
      if (client !== this.client) return; // a connection it has moved on from (reconnectAs)
      for (const [topic, ws] of this.waiters) for (const w of ws) w.reject(new Error(`closed waiting for ${topic}`));
      this.waiters.clear();
    });
  }

  /** Connect with the broker password derived from `passwordSecret` (default: the device's own secret). */
  static async connect(url: string, id: DeviceIdentity, passwordSecret: Uint8Array = id.secret): Promise<RawDevice> {
    const client = await RawDevice.open(url, id, id.deviceId, deriveBrokerPassword(passwordSecret));
    const d = new RawDevice(client, id, url);
    await client.subscribeAsync([topics.handshake(id.deviceId, 'challenge'), topics.handshake(id.deviceId, 'result')], {
      qos: 1,
    });
    return d;
  }

  /**
   * Reconnect with a session login (a grant the broker holds on a login, docs/protocol.md "Session logins"); the
   * object then speaks for the new connection.
   */
  async reconnectAs(username: string, password: string): Promise<void> {
    await this.close();
    this.client = await RawDevice.open(this.url, this.id, username, password);
    this.attach(this.client);
    await this.client.subscribeAsync(
      [topics.handshake(this.id.deviceId, 'challenge'), topics.handshake(this.id.deviceId, 'result')],
      { qos: 1 },
    );
  }

  private static async open(url: string, id: DeviceIdentity, username: string, password: string): Promise<MqttClient> {
    const client = connect(url, {
      protocolVersion: 4,
      clientId: id.deviceId,
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (e) => {
        client.end(true);
        reject(e);
      });
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return client;
  }

  next(topic: string): Promise<Buffer> {
    const q = this.queues.get(topic);
    if (q?.length) return Promise.resolve(q.shift()!);
    // A message that never comes fails this test with the topic it waited for, instead of hanging the whole file.
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.set(
          topic,
          (this.waiters.get(topic) ?? []).filter((w) => w.resolve !== done),
        );
        reject(new Error(`no message on ${topic} within ${RawDevice.WAIT_MS} ms`));
      }, RawDevice.WAIT_MS).unref();
      const done = (b: Buffer) => {
        clearTimeout(timer);
        resolve(b);
      };
      this.waiters.set(topic, [
        ...(this.waiters.get(topic) ?? []),
        {
          resolve: done,
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        },
      ]);
    });
  }

  /** Send a hello; resolves with the challenge, or the denial that came instead. */
  async hello(h: HandshakeHello = createHello(this.id)): Promise<{ hello: HandshakeHello } & Reply> {
    await this.client.publishAsync(topics.handshake(this.id.deviceId, 'hello'), JSON.stringify(h), { qos: 1 });
    const winner = await Promise.race([
      this.next(topics.handshake(this.id.deviceId, 'challenge')).then((p) => ({ kind: 'challenge' as const, p })),
      this.next(topics.handshake(this.id.deviceId, 'result')).then((p) => ({ kind: 'result' as const, p })),
    ]);
    // The loser of the race stays registered as a waiter; drop it so the next message is not swallowed.
    this.waiters.clear();
    if (winner.kind === 'challenge') {
      const c = parseHandshakeMessage('challenge', winner.p);
      assert.ok(c.ok, 'the challenge parses');
      return { hello: h, challenge: c.value };
    }
    const r = parseHandshakeMessage('result', winner.p);
    assert.ok(r.ok, 'the result parses');
    return { hello: h, result: r.value };
  }

  async respond(response: HandshakeResponse): Promise<HandshakeResult> {
    const next = this.next(topics.handshake(this.id.deviceId, 'result'));
    await this.client.publishAsync(topics.handshake(this.id.deviceId, 'response'), JSON.stringify(response), {
      qos: 1,
    });
    const r = parseHandshakeMessage('result', await next);
    assert.ok(r.ok, 'the result parses');
    return r.value;
  }

  /**
   * An honest handshake; returns the successful result. When the result names a session login, the device reconnects
   * with it (from then on `client` is the session's connection), as a device must.
   */
  async authenticate(): Promise<Extract<HandshakeResult, { ok: true }>> {
    const { hello, challenge } = await this.hello();
    assert.ok(challenge, 'a challenge');
    const a = answerChallenge(this.id, hello, challenge);
    assert.ok(a.ok, 'the server proof verifies');
    const r = await this.respond(a.value.response);
    assert.ok(r.ok, `granted (got ${JSON.stringify(r)})`);
    if (r.login !== undefined) await this.reconnectAs(r.login, deriveSessionPassword(this.id.secret, r.sessionId));
    return r;
  }

  async close(): Promise<void> {
    if (this.client.connected) await this.client.endAsync();
    else this.client.end(true);
  }
}

/** The filter of all of a device's commands (the topic builders refuse wildcards on purpose). */
const commandsOf = (deviceId: string) => topics.command(deviceId, 'x').replace(/x$/, '#');

type Reply = { challenge?: HandshakeChallenge; result?: HandshakeResult };

/**
 * What a device that ignores the server proof would send: RC and a signature over its own view of the transcript,
 * with any part replaced (a wrong secret, another key, another fingerprint, another session).
 */
function forcedResponse(
  id: DeviceIdentity,
  hello: HandshakeHello,
  challenge: HandshakeChallenge,
  over: { secret?: Uint8Array; privateKey?: string; fingerprint?: string; sessionId?: string } = {},
): HandshakeResponse {
  const t = deviceTranscript({ ...id, fingerprint: over.fingerprint ?? id.fingerprint }, hello, challenge);
  const digest = transcriptDigest(t);
  return {
    type: 'response',
    v: HANDSHAKE_VERSION,
    sessionId: over.sessionId ?? challenge.sessionId,
    ocra: ocraClientResponse(HANDSHAKE_SUITE, over.secret ?? id.secret, {
      clientChallenge: hello.clientNonce,
      serverChallenge: challenge.serverNonce,
      session: digest,
    }),
    alg: 'ES256K-R',
    signature: signDigest(over.privateKey ?? id.privateKey, digest),
  };
}

const denied = (r: { result?: HandshakeResult } | HandshakeResult, code = 'ERR_HANDSHAKE_DENIED') => {
  const result = 'type' in r ? r : r.result;
  assert.ok(result, 'a result, not a challenge');
  assert.equal(result.ok, false, 'denied');
  if (!result.ok) assert.equal(result.code, code);
};

/** Connecting must fail (CONNACK refusal, or the connection closed before CONNACK). */
async function refusedConnect(url: string, id: DeviceIdentity, passwordSecret?: Uint8Array) {
  await assert.rejects(RawDevice.connect(url, id, passwordSecret), 'the broker refuses the connection');
}

export function handshakeConformanceSuite(
  name: string,
  makeBroker: BrokerFactory,
  options: { makeRogueBroker?: BrokerFactory } = {},
): void {
  describe(`device handshake conformance (${name})`, () => {
    let chain: AnvilChain;
    let provider: JsonRpcProvider;
    let dir: string;
    let broker: BrokerAdapter;
    let responder: HandshakeResponder;
    let registry: DeviceRegistry;
    let admin: Wallet;
    let resolver: CachedDidResolver;
    let dids: DidResolution;
    let didRegistry: string;
    let stateWatcher: DeviceStateWatcher;
    let service: DeviceHandshakeService;
    let vault: FileDeviceSecretVault;
    let issuer: Wallet;
    let clockOffset = 0;
    const now = () => Date.now() + clockOffset;
    let serial = 0;
    const agents: DeviceAgent[] = [];
    const raws: RawDevice[] = [];

    const mined = async (p: Promise<{ wait(): Promise<unknown> }>) => (await p).wait();

    /** Resolves once the verifier has applied a lifecycle change of this device to the broker (event, not time). */
    const applied = new EventEmitter();
    const changeApplied = (deviceId: string, to: string) =>
      new Promise<void>((resolve) => {
        const l = (id: string, state: string) => {
          if (id === deviceId && state === to) {
            applied.off('applied', l);
            resolve();
          }
        };
        applied.on('applied', l);
      });

    /** Register (batch of one), commission and enrol a device; `commission: false` leaves it Registered. */
    async function provision(o: { commission?: boolean; register?: boolean } = {}): Promise<TestDevice> {
      serial++;
      const s = `CONF-${process.pid}-${serial}`;
      const characteristics = {
        model: 'SMGW-1000',
        serial: s,
        hardwareRevision: 'r2',
        firmwareHash: randomBytes(32).toString('hex'),
        mac: randomBytes(6).toString('hex'),
      };
      const fp = deviceFingerprint(characteristics);
      assert.ok(fp.ok);
      const secret = generateDeviceSecret();
      const salt = randomBytes(32);
      const key = Wallet.createRandom();
      const deviceId = deviceIdOf(admin.address, s);
      const identity: DeviceIdentity = {
        deviceId,
        did: `did:ethr:0x${chain.chainId.toString(16)}:${key.address.toLowerCase()}`,
        secret,
        privateKey: key.privateKey,
        fingerprint: fp.value,
      };
      if (o.register !== false) {
        const leaf = {
          deviceId,
          fingerprint: fp.value,
          commitment: secretCommitment(salt, secret),
          initialOwner: admin.address,
        };
        const tree = buildDeviceBatch([leaf]);
        await mined(registry.registerBatch(tree.root, 1));
        const batchId = await registry.batchCount();
        if (o.commission === false) {
          await mined(
            registry.materialize(batchId, deviceId, leaf.fingerprint, leaf.commitment, admin.address, tree.proofs[0]!),
          );
        } else {
          await mined(
            registry.commissionFromBatch(
              batchId,
              deviceId,
              leaf.fingerprint,
              leaf.commitment,
              tree.proofs[0]!,
              key.address,
            ),
          );
        }
      }
      await vault.put(deviceId, secret, salt);
      assert.ok(await responder.enrol(deviceId));
      return { identity, serial: s };
    }

    const raw = async (id: DeviceIdentity, passwordSecret?: Uint8Array) => {
      const r = await RawDevice.connect(broker.url, id, passwordSecret);
      raws.push(r);
      return r;
    };

    const agent = (id: DeviceIdentity, url = broker.url, extra: { refreshBeforeS?: number } = {}) => {
      const a = new DeviceAgent({
        identity: id,
        brokerUrl: url,
        backoff: { initialMs: 20, maxMs: 200 },
        handshakeTimeoutMs: 10_000,
        ...extra,
      });
      agents.push(a);
      return a;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-hs-'));
      chain = await startAnvil({});
      provider = makeProvider(chain.rpcUrl, chain.chainId);
      admin = new Wallet(ANVIL_FUNDER_KEY, provider);
      const addresses = await ensureDeployed({
        provider,
        deployer: admin,
        chainId: chain.chainId,
        file: join(dir, 'deployments.json'),
        allowDeploy: true,
      });
      registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, admin);
      didRegistry = addresses.EthereumDIDRegistry;
      await mined(registry.grantRole(await registry.MANUFACTURER(), admin.address));
      await mined(registry.grantRole(await registry.OPERATOR(), admin.address));
      dids = await createDidResolver({
        chainId: chain.chainId,
        provider,
        registry: addresses.EthereumDIDRegistry,
        wsUrl: chain.wsUrl,
      });
      resolver = dids.resolver;
      vault = new FileDeviceSecretVault(join(dir, 'device-secrets.json'), randomBytes(32));
      broker = await makeBroker();
      await broker.start();
      issuer = new Wallet(Wallet.createRandom().privateKey);
      // The service as the stack composes it: device records behind the event-invalidated cache (the revocation cases
      // below also show that no stale state is served), lifecycle changes applied to the broker.
      service = await startDeviceHandshakeService({
        broker,
        provider,
        chainId: chain.chainId,
        deviceRegistry: addresses.DeviceRegistry,
        wsUrl: chain.wsUrl,
        vault,
        resolver,
        challenges: new MemoryNonceStore({ now }),
        limiter: new MemoryHandshakeLimiter({ now }),
        issuer: {
          did: `did:ethr:0x${chain.chainId.toString(16)}:${issuer.address.toLowerCase()}`,
          privateKey: issuer.privateKey,
        },
        now,
        onApplied: (c) => applied.emit('applied', c.deviceId, c.to),
      });
      responder = service.responder;
      stateWatcher = service.watcher;
    });

    after(async () => {
      for (const a of agents) await a.stop().catch(() => undefined);
      for (const r of raws) await r.client.endAsync(true).catch(() => undefined);
      await service?.stop();
      await dids?.stop();
      await broker?.stop();
      provider?.destroy();
      await chain?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('an honest device authenticates and receives a DeviceSessionCredential signed by the verifier', async () => {
      const d = await provision();
      const a = agent(d.identity);
      const got = a.next('session');
      a.start();
      const [session] = (await got) as [DeviceSession];
      const vc = await verifyCredential(session.credential, resolver);
      assert.equal(vc.payload.sub, d.identity.did);
      assert.ok(vc.verifiableCredential.type.includes('DeviceSessionCredential'));
      const subject = vc.verifiableCredential.credentialSubject as Record<string, unknown>;
      assert.equal(subject.deviceId, d.identity.deviceId);
      assert.equal(subject.clientId, d.identity.deviceId);
      assert.equal(subject.fingerprint, d.identity.fingerprint);
      assert.deepEqual(subject.publish, session.permissions.publish);
      const ttl = (vc.payload.exp ?? 0) - (vc.payload.nbf ?? 0);
      assert.ok(ttl > 0 && ttl <= DEVICE_SESSION_TTL_S, 'minutes, not days');
      assert.equal(session.expiresAt, (vc.payload.exp ?? 0) * 1000);
    });

    it('an authenticated device can use exactly its own topics', async () => {
      const d = await provision();
      const other = await provision();
      const seen: string[] = [];
      await broker.subscribe('tessera/v1/devices/+/telemetry/#', (topic, payload) =>
        seen.push(`${topic} ${payload.toString()}`),
      );
      const a = agent(d.identity);
      const got = a.next('session');
      a.start();
      await got;
      // own telemetry reaches the verifier side
      const mine = topics.telemetry(d.identity.deviceId, 'meter');
      await a.publish(mine, 'reading-1');
      // own commands reach the device
      assert.equal(await a.subscribe(commandsOf(d.identity.deviceId)), 1);
      const cmd = once(a, 'message');
      await broker.publish(topics.command(d.identity.deviceId, 'reboot'), 'now');
      const [topic, payload] = (await cmd) as [string, Buffer];
      assert.equal(topic, topics.command(d.identity.deviceId, 'reboot'));
      assert.equal(payload.toString(), 'now');
      // another device's commands and everything else: SUBACK 0x80
      assert.equal(await a.subscribe(commandsOf(other.identity.deviceId)), 128);
      assert.equal(await a.subscribe('#'), 128);
      assert.equal(await a.subscribe('tessera/v1/devices/+/telemetry/#'), 128);
      assert.ok(seen.includes(`${mine} reading-1`));
    });

    it('refuses publishing and subscribing outside its permissions (before and after the handshake)', async () => {
      const d = await provision();
      const other = await provision();
      const seen: string[] = [];
      await broker.subscribe('tessera/v1/devices/+/telemetry/#', (topic, payload) =>
        seen.push(`${topic} ${payload.toString()}`),
      );
      // Before the handshake (another device, so its junk sentinel does not disturb the rest): no telemetry.
      const early = await raw(other.identity);
      assert.equal(await subscribeQos(early.client, commandsOf(other.identity.deviceId)), 128);
      const idle = new Promise<'closed'>((resolve) => early.client.once('close', () => resolve('closed')));
      early.client.publish(topics.telemetry(other.identity.deviceId, 'meter'), 'too-early', { qos: 1 });
      const earlySentinel = early.client
        .publishAsync(topics.handshake(other.identity.deviceId, 'hello'), '{}', { qos: 1 })
        .then(() => 'sent' as const);
      await Promise.race([idle, earlySentinel]);
      await early.close();

      const c = await raw(d.identity);
      await c.authenticate();
      const foreign = topics.telemetry(other.identity.deviceId, 'meter');
      const own = topics.telemetry(d.identity.deviceId, 'meter');
      const closed = new Promise<'closed'>((resolve) => c.client.once('close', () => resolve('closed')));
      // The forbidden publish, then a sentinel on the same connection (MQTT keeps per-connection order, §4.6).
      c.client.publish(foreign, 'forged', { qos: 1 });
      const sentinel = c.client.publishAsync(own, 'sentinel', { qos: 1 }).then(() => 'sent' as const);
      const first = await Promise.race([closed, sentinel]);
      if (first === 'sent') {
        // a broker that drops refused publishes silently (Mosquitto): the sentinel arrives, the forgery never did
        await new Promise<void>((resolve) => {
          const check = () => (seen.includes(`${own} sentinel`) ? resolve() : setTimeout(check, 5));
          check();
        });
      }
      // a broker that closes the connection (aedes, MQTT 3.1.1 has no negative PUBACK) refused it before forwarding
      assert.ok(!seen.includes(`${foreign} forged`), 'the forged publish was not delivered');
      assert.ok(!seen.some((x) => x.endsWith(' too-early')), 'no telemetry before the handshake');
    });

    /** Connect, and wait until the adapter has taken the connection into account (Mosquitto hears of it later). */
    const rawApplied = async (id: DeviceIdentity) => {
      const applied = broker.nextConnection?.(id.deviceId);
      const r = await raw(id);
      await applied;
      return r;
    };

    /** Publish on a topic the connection may not use; resolves once it is certain the message was not delivered. */
    async function notDelivered(c: RawDevice, topic: string, seen: string[]): Promise<void> {
      const tag = randomBytes(6).toString('hex');
      const own = topics.handshake(c.id.deviceId, 'hello'); // always allowed: the sentinel
      const closed = new Promise<'closed'>((resolve) => c.client.once('close', () => resolve('closed')));
      c.client.publish(topic, tag, { qos: 1 });
      // MQTT keeps per-connection order (§4.6): once the sentinel arrived, the forbidden message was decided before it.
      const sentinel = c.client.publishAsync(own, `{"sentinel":"${tag}"}`, { qos: 1 }).then(() => 'sent' as const);
      if ((await Promise.race([closed, sentinel])) === 'sent')
        await new Promise<void>((resolve) => {
          const check = () => (seen.includes(`${own} {"sentinel":"${tag}"}`) ? resolve() : setTimeout(check, 5));
          check();
        });
      assert.ok(!seen.includes(`${topic} ${tag}`), `${topic} was delivered`);
    }

    it('a session grant belongs to its connection: a takeover with only the broker password gets handshake topics', async () => {
      const d = await provision();
      const seen: string[] = [];
      await broker.subscribe(
        `${topics.handshake(d.identity.deviceId, 'hello').replace(/handshake\/hello$/, '#')}`,
        (t, p) => seen.push(`${t} ${p.toString()}`),
      );
      const honest = await rawApplied(d.identity);
      await honest.authenticate();
      assert.equal(await subscribeQos(honest.client, commandsOf(d.identity.deviceId)), 1, 'the handshake granted it');
      // Someone holding the broker password (not K, no DID key) connects under the device's client id.
      const dropped = new Promise<void>((resolve) => honest.client.once('close', () => resolve()));
      const thief = await rawApplied(d.identity);
      await dropped; // the broker closed the honest connection (client-id takeover)
      assert.equal(await subscribeQos(thief.client, commandsOf(d.identity.deviceId)), 128, 'no commands');
      await notDelivered(thief, topics.telemetry(d.identity.deviceId, 'meter'), seen);
    });

    it('a reconnect starts with the handshake topics and earns its own grant', async () => {
      const d = await provision();
      const first = await rawApplied(d.identity);
      await first.authenticate();
      await first.close();
      const second = await rawApplied(d.identity);
      assert.equal(await subscribeQos(second.client, commandsOf(d.identity.deviceId)), 128, 'nothing inherited');
      await second.authenticate();
      assert.equal(await subscribeQos(second.client, commandsOf(d.identity.deviceId)), 1, 'its own grant');
    });

    it('grants only to the current connection: a grant for a replaced connection widens nothing', async () => {
      const d = await provision();
      const first = await rawApplied(d.identity);
      const old = broker.connectionOf(d.identity.deviceId);
      assert.ok(old, 'the adapter knows the connection');
      const dropped = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
      const second = await rawApplied(d.identity);
      await dropped;
      const current = broker.connectionOf(d.identity.deviceId);
      assert.ok(current && current.id !== old.id, 'a new connection id');
      const sessionId = randomBytes(16).toString('hex');
      const grant = {
        deviceId: d.identity.deviceId,
        did: d.identity.did,
        permissions: deviceTopicPermissions(d.identity.deviceId),
        expiresAt: Date.now() + 60_000,
        sessionPassword: deriveSessionPassword(d.identity.secret, sessionId),
      };
      assert.equal(await broker.grant({ ...grant, connection: old }), false, 'the replaced connection gets nothing');
      assert.equal(await subscribeQos(second.client, commandsOf(d.identity.deviceId)), 128);
      const outcome = await broker.grant({ ...grant, connection: current });
      assert.ok(outcome, 'granted');
      // A broker that holds grants on a session login (Mosquitto) names it; the device's own login stays narrow.
      if (typeof outcome === 'object') {
        assert.equal(await subscribeQos(second.client, commandsOf(d.identity.deviceId)), 128, 'not on its own login');
        await second.reconnectAs(outcome.login, grant.sessionPassword);
      }
      assert.equal(await subscribeQos(second.client, commandsOf(d.identity.deviceId)), 1);
    });

    it("refuses a response naming another device's pending session without spending that session", async () => {
      const victim = await provision();
      const other = await provision();
      const v = await raw(victim.identity);
      const { hello, challenge } = await v.hello();
      assert.ok(challenge);
      // The other device (its own secret and key, its own topics) answers with the victim's session id.
      const o = await raw(other.identity);
      const own = await o.hello();
      assert.ok(own.challenge);
      denied(
        await o.respond(forcedResponse(other.identity, own.hello, own.challenge, { sessionId: challenge.sessionId })),
      );
      // The victim's session is still there: its own answer is granted.
      const a = answerChallenge(victim.identity, hello, challenge);
      assert.ok(a.ok);
      const r = await v.respond(a.value.response);
      assert.equal(r.ok, true, JSON.stringify(r));
    });

    it('refuses a device that does not know the secret (wrong broker password, and wrong OCRA key)', async () => {
      const d = await provision();
      const wrong = randomBytes(32);
      await refusedConnect(broker.url, { ...d.identity, secret: wrong });
      // Even with the broker password (say, leaked from a broker), the OCRA response needs the secret itself.
      const c = await raw(d.identity);
      const { hello, challenge } = await c.hello();
      assert.ok(challenge);
      // a device holding the wrong secret sees the server proof fail ...
      assert.equal(answerChallenge({ ...d.identity, secret: wrong }, hello, challenge).ok, false);
      // ... and if it answers anyway, it is denied
      denied(await c.respond(forcedResponse(d.identity, hello, challenge, { secret: wrong })));
    });

    it('refuses a response signed by a key that is not the device DID key', async () => {
      const d = await provision();
      const c = await raw(d.identity);
      const { hello, challenge } = await c.hello();
      assert.ok(challenge);
      denied(
        await c.respond(forcedResponse(d.identity, hello, challenge, { privateKey: Wallet.createRandom().privateKey })),
      );
    });

    it('refuses a cloned secret on other hardware (wrong fingerprint), whether the clone tells the truth or lies', async () => {
      const d = await provision();
      const clone: DeviceIdentity = {
        ...d.identity,
        fingerprint: `0x${randomBytes(32).toString('hex')}`,
      };
      const c = await raw(clone);
      // honest firmware on other hardware reports what it measures
      denied(await c.hello(createHello(clone)));
      // a clone that claims the registered fingerprint but computes over its own characteristics
      const lie = createHello(d.identity);
      const { challenge } = await c.hello(lie);
      assert.ok(challenge);
      assert.equal(answerChallenge(clone, lie, challenge).ok, false, 'the server proof does not verify for the clone');
      denied(await c.respond(forcedResponse(clone, lie, challenge)));
    });

    it('refuses a replayed response', async () => {
      const d = await provision();
      const c = await raw(d.identity);
      const { hello, challenge } = await c.hello();
      assert.ok(challenge);
      const a = answerChallenge(d.identity, hello, challenge);
      assert.ok(a.ok);
      assert.equal((await c.respond(a.value.response)).ok, true);
      const replayed = await c.respond(a.value.response);
      denied(replayed);
      // the refusal names the session the response named (a device running another handshake ignores it)
      assert.equal(replayed.sessionId, a.value.response.sessionId);
    });

    it('refuses a response after its challenge expired (fake clock)', async () => {
      const d = await provision();
      const c = await raw(d.identity);
      const { hello, challenge } = await c.hello();
      assert.ok(challenge);
      clockOffset += HANDSHAKE_CHALLENGE_TTL_MS + 1;
      try {
        const a = forcedResponse(d.identity, hello, challenge);
        denied(await c.respond(a), 'ERR_HANDSHAKE_EXPIRED');
      } finally {
        clockOffset = 0;
      }
    });

    it('refuses a response relayed into another session', async () => {
      const d = await provision();
      const c = await raw(d.identity);
      const first = await c.hello();
      const second = await c.hello();
      assert.ok(first.challenge && second.challenge);
      const a = answerChallenge(d.identity, first.hello, first.challenge);
      assert.ok(a.ok);
      // the response to session 1, presented in session 2
      denied(await c.respond({ ...a.value.response, sessionId: second.challenge.sessionId }));
      // and session 2 is spent: the relayed attempt consumed it
      denied(await c.respond(forcedResponse(d.identity, second.hello, second.challenge)));
    });

    it('refuses a registered but not commissioned device, and an unknown device', async () => {
      const registered = await provision({ commission: false });
      denied(await (await raw(registered.identity)).hello());
      const unknown = await provision({ register: false });
      denied(await (await raw(unknown.identity)).hello());
    });

    for (const action of ['suspend', 'revoke', 'decommission'] as const) {
      const to = { suspend: 'Suspended', revoke: 'Revoked', decommission: 'Decommissioned' }[action];
      it(`refuses a ${to.toLowerCase()} device at the broker and in the handshake`, async () => {
        const d = await provision();
        const applied = changeApplied(d.identity.deviceId, to);
        await mined(registry[action](d.identity.deviceId));
        await applied;
        await refusedConnect(broker.url, d.identity);
        // a broker that still lets it in (stale replica): the handshake itself refuses, on chain state, and tells the
        // device its state (public on chain) so that its agent waits (suspended) or stops (revoked, decommissioned)
        await responder.enrol(d.identity.deviceId);
        denied(await (await raw(d.identity)).hello(), `ERR_DEVICE_${to.toUpperCase()}`);
      });
    }

    it('locks a device out after repeated failures, with backoff, and lets it in after the lockout', async () => {
      const d = await provision();
      const c = await raw(d.identity);
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { hello, challenge, result } = await c.hello();
        if (result) {
          codes.push(result.ok ? 'ok' : result.code);
          continue;
        }
        assert.ok(challenge);
        const r = await c.respond(forcedResponse(d.identity, hello, challenge, { secret: randomBytes(32) }));
        codes.push(r.ok ? 'ok' : r.code);
      }
      assert.ok(
        codes.slice(0, 4).every((x) => x === 'ERR_HANDSHAKE_DENIED'),
        codes.join(),
      );
      assert.ok(
        codes.slice(4).every((x) => x === 'ERR_HANDSHAKE_LOCKED'),
        codes.join(),
      );
      // even the right answer is refused while locked, and the device is told when to come back
      const locked = await c.hello();
      denied(locked, 'ERR_HANDSHAKE_LOCKED');
      const retryAfterMs = locked.result && !locked.result.ok ? (locked.result.retryAfterMs ?? 0) : 0;
      assert.ok(retryAfterMs > 0);
      clockOffset += retryAfterMs + 1;
      try {
        const ok = await c.authenticate();
        assert.equal(ok.ok, true);
      } finally {
        clockOffset = 0;
      }
    });

    it('a firmware update on chain (new fingerprint) takes effect at the next handshake', async () => {
      const d = await provision();
      await (await raw(d.identity)).authenticate(); // the device record is now cached
      const updated = `0x${randomBytes(32).toString('hex')}`;
      const recorded = new Promise<void>((resolve) => {
        const l = (id: string) => {
          if (id === d.identity.deviceId) {
            stateWatcher.off('record', l);
            resolve();
          }
        };
        stateWatcher.on('record', l);
      });
      await mined(registry.updateFirmware(d.identity.deviceId, updated));
      await recorded;
      denied(await (await raw(d.identity)).hello(), 'ERR_HANDSHAKE_DENIED');
      const c = await raw({ ...d.identity, fingerprint: updated });
      assert.equal((await c.authenticate()).ok, true);
    });

    it('checks the DID key against the DID document as it is on chain now (ERC-1056 owner change)', async () => {
      const d = await provision();
      await (await raw(d.identity)).authenticate(); // the DID document is now cached
      // The device's identity rotates its key: the new owner controls the DID from the next block on.
      const oldKey = new Wallet(d.identity.privateKey, provider);
      await mined(admin.sendTransaction({ to: oldKey.address, value: 10n ** 17n }));
      const newKey = Wallet.createRandom();
      const receipt = await (
        await EthereumDIDRegistry__factory.connect(didRegistry, oldKey).changeOwner(oldKey.address, newKey.address)
      ).wait();
      await dids.watcher.waitForBlock(receipt!.blockNumber);
      // signed with the old key: refused, though it is the key the DID was created with
      const c = await raw(d.identity);
      const { hello, challenge } = await c.hello();
      assert.ok(challenge);
      denied(await c.respond(forcedResponse(d.identity, hello, challenge)));
      // signed with the new owner key: granted (same DID, same on-chain identity)
      const rotated = await raw({ ...d.identity, privateKey: newKey.privateKey });
      assert.equal((await rotated.authenticate()).ok, true);
    });

    it('a device detects a rogue server that does not know its secret, and never answers it', async () => {
      const d = await provision();
      const rogue = await (options.makeRogueBroker ?? makeBroker)();
      await rogue.start();
      try {
        // The rogue even has the broker password (the weakest link); it still cannot produce the OCRA proof.
        await rogue.enrol({ deviceId: d.identity.deviceId, password: deriveBrokerPassword(d.identity.secret) });
        const responses: Buffer[] = [];
        await rogue.subscribe(topics.handshakeInbound('response'), (_t, p) => responses.push(p));
        await rogue.subscribe(topics.handshakeInbound('hello'), (_t, p) => {
          const h = parseHandshakeMessage('hello', p);
          if (!h.ok) return;
          const fake: HandshakeChallenge = {
            type: 'challenge',
            v: HANDSHAKE_VERSION,
            sessionId: randomBytes(16).toString('hex'),
            serverNonce: randomBytes(32).toString('hex'),
            serverProof: String(Math.floor(Math.random() * 1e8)).padStart(8, '0'),
            expiresAt: Date.now() + 30_000,
          };
          void rogue.publish(topics.handshake(h.value.deviceId, 'challenge'), JSON.stringify(fake));
        });
        const a = agent(d.identity, rogue.url);
        const detected = a.next('rogue');
        a.start();
        await detected;
        // Closing flushes everything the agent had sent on this connection: a response would have arrived first.
        await a.stop();
        assert.equal(responses.length, 0, 'the device sent nothing after the failed proof');
        assert.equal(a.session, undefined);
      } finally {
        await rogue.stop();
      }
    });

    it('refreshes the session before it expires without dropping the connection', async () => {
      const d = await provision();
      // refresh as soon as the first session arrives (refreshBefore ≈ the whole lifetime)
      const a = agent(d.identity, broker.url, { refreshBeforeS: DEVICE_SESSION_TTL_S - 0.05 });
      let disconnects = 0;
      a.on('disconnected', () => disconnects++);
      const sessions: DeviceSession[] = [];
      const two = new Promise<void>((resolve) =>
        a.on('session', (s: DeviceSession) => {
          sessions.push(s);
          if (sessions.length === 2) resolve();
        }),
      );
      a.start();
      await two;
      assert.notEqual(sessions[0]!.sessionId, sessions[1]!.sessionId);
      assert.equal(disconnects, 0, 'the connection stayed up');
      await a.publish(topics.telemetry(d.identity.deviceId, 'meter'), 'after-refresh');
      await a.stop(); // it would refresh every 50 ms
    });

    it('revoking a connected device drops its session at once and refuses its next handshake', async () => {
      const d = await provision();
      const a = agent(d.identity);
      const got = a.next('session');
      a.start();
      await got;
      const dropped = a.next('disconnected');
      const final = a.next('final');
      await mined(registry.revoke(d.identity.deviceId));
      await dropped;
      assert.deepEqual(await final, [{ code: 'ERR_DEVICE_REVOKED' }], 'the verifier told the agent, which stopped');
      assert.equal(a.session, undefined);
      await a.stop();
      await refusedConnect(broker.url, d.identity);
      await responder.enrol(d.identity.deviceId);
      denied(await (await raw(d.identity)).hello(), 'ERR_DEVICE_REVOKED');
      assert.equal((await readDeviceStatus(registry, d.identity.deviceId)).state, 'Revoked');
    });

    it('suspending drops the session; resuming lets the device back in on its own (reconnect with backoff)', async () => {
      const d = await provision();
      const a = agent(d.identity);
      const first = a.next('session');
      a.start();
      await first;
      const dropped = a.next('disconnected');
      const told = a.next('suspended');
      await mined(registry.suspend(d.identity.deviceId));
      await dropped;
      await told;
      assert.equal(a.suspended, true, 'the agent knows it is suspended and keeps trying');
      const back = a.next('session');
      await mined(registry.resume(d.identity.deviceId));
      await back;
      assert.ok(a.session);
      assert.equal(a.suspended, false);
      await a.publish(topics.telemetry(d.identity.deviceId, 'meter'), 'resumed');
    });
  });
}
