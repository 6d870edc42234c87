import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deviceIdOf, deviceTopicPermissions, TesseraError, type TopicPermissions, topics } from '@tessera/protocol';
import { connect as tcpConnect } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { BrokerConnection } from './adapter.js';
import { DynsecClient } from './dynsec.js';
import { deviceRoleName, MosquittoBrokerAdapter, sessionLoginOf, sessionRoleName } from './mosquitto.js';
import { type MosquittoInstance, startMosquitto } from './mosquitto-instance.js';

// Against a dedicated Mosquitto 2 with dynamic security, started by this file on a free port (never the system one).
// Absence of delivery is shown without timing: after the forbidden message the same client sends a permitted one
// on the same path, and the observer checks that the permitted one arrived and the forbidden one did not (one
// connection's QoS 1 messages reach a subscriber in order, MQTT 3.1.1 §4.6).

const BOUND_MS = 10_000; // generous upper bound for awaited events; never a pass/fail criterion on speed

let broker: MosquittoInstance;
let adapter: MosquittoBrokerAdapter;
let admin: DynsecClient;
const clients: MqttClient[] = [];
const received: { topic: string; payload: string; clientId: string | undefined }[] = [];

const newDevice = () => ({
  deviceId: deviceIdOf('acme', randomBytes(8).toString('hex')),
  password: randomBytes(32).toString('base64url'),
});

async function connectDevice(deviceId: string, password: string, clientId = deviceId): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, {
    clientId,
    username: deviceId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: BOUND_MS,
  });
  clients.push(c);
  return c;
}

/** Connect a device and wait until the adapter has seen the connection (from the broker's notice) and applied it. */
async function connectApplied(deviceId: string, password: string) {
  const applied = adapter.nextConnection(deviceId);
  const client = await connectDevice(deviceId, password);
  return { client, connection: await applied };
}

const DID = 'did:ethr:0x7a69:0x0000000000000000000000000000000000000001';

/**
 * Grant the device's current connection (as a handshake would) and reconnect, as the device does, with the session
 * login the grant names; resolves with the session's connection and its login.
 */
async function grantSession(
  deviceId: string,
  connection: BrokerConnection,
  o: { permissions?: TopicPermissions; expiresAt?: number; via?: MosquittoBrokerAdapter } = {},
) {
  const sessionPassword = randomBytes(32).toString('base64url');
  const outcome = await (o.via ?? adapter).grant({
    deviceId,
    did: DID,
    permissions: o.permissions ?? deviceTopicPermissions(deviceId),
    expiresAt: o.expiresAt ?? Date.now() + 60_000,
    connection,
    sessionPassword,
  });
  assert.ok(typeof outcome === 'object', `a session login (got ${JSON.stringify(outcome)})`);
  assert.equal(outcome.login, sessionLoginOf(deviceId));
  const applied = (o.via ?? adapter).nextConnection(deviceId);
  const client = await connectDevice(outcome.login, sessionPassword, deviceId);
  return { client, login: outcome.login, password: sessionPassword, connection: await applied };
}

/** CONNECT that must fail: resolves to the CONNACK return code (MQTT 3.1.1 §3.2.2.3). */
async function refusedConnect(username: string, password: string, clientId: string): Promise<number> {
  try {
    const c = await connectDevice(username, password, clientId);
    await c.endAsync(true);
  } catch (e) {
    return (e as { code: number }).code;
  }
  assert.fail(`${clientId} was allowed to connect`);
}

/** SUBACK return codes (0x80 = failure, MQTT 3.1.1 §3.9.3). */
function subscribeCodes(c: MqttClient, filter: string): Promise<number[]> {
  return new Promise((resolve) => {
    c.subscribe(filter, { qos: 1 }, (err, granted) => {
      // mqtt.js fails the call on any failure code and carries the SUBACK on the error.
      if (err) resolve((err as { packet?: { granted?: number[] } }).packet?.granted ?? [-1]);
      else resolve((granted ?? []).map((g) => g.qos));
    });
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const seen = (topic: string, payload: string) => received.some((m) => m.topic === topic && m.payload === payload);

/** Publish `forbidden` then `marker` from `c`; resolve once the marker reached the verifier. */
async function publishThenMarker(c: MqttClient, forbidden: string, marker: string, payload: string) {
  await c.publishAsync(forbidden, payload, { qos: 1 });
  await c.publishAsync(marker, payload, { qos: 1 });
  await waitFor(`${marker} at the verifier`, () => (seen(marker, payload) ? true : undefined));
}

function closed(c: MqttClient): Promise<number> {
  return new Promise((resolve) => {
    if (!c.connected) resolve(performance.now());
    c.once('close', () => resolve(performance.now()));
  });
}

describe('MosquittoBrokerAdapter against Mosquitto 2 with dynamic security', () => {
  before(async () => {
    broker = await startMosquitto();
    adapter = new MosquittoBrokerAdapter({ url: broker.url, admin: broker.admin });
    await adapter.start();
    await adapter.subscribe('tessera/v1/devices/#', (topic, payload, clientId) => {
      received.push({ topic, payload: payload.toString('utf8'), clientId });
    });
    admin = await DynsecClient.connect({ url: broker.url, ...broker.admin });
  });

  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await admin?.close();
    await adapter?.stop();
    await broker?.stop();
  });

  it('sets the broker defaults to deny publish, subscribe and delivery', async () => {
    const d = await admin.getDefaultACLAccess();
    assert.deepEqual(
      { send: d.publishClientSend, receive: d.publishClientReceive, subscribe: d.subscribe },
      { send: false, receive: false, subscribe: false },
    );
  });

  it('an enrolled device connects and may publish its hello and subscribe its challenge, nothing else', async () => {
    const a = newDevice();
    const b = newDevice();
    await adapter.enrol(a);
    await adapter.enrol(b);
    const client = await connectDevice(a.deviceId, a.password);

    // Its own handshake topics.
    assert.deepEqual(await subscribeCodes(client, topics.handshake(a.deviceId, 'challenge')), [1]);
    assert.deepEqual(await subscribeCodes(client, topics.handshake(a.deviceId, 'result')), [1]);
    const challenge = new Promise<string>((resolve) =>
      client.on('message', (t, p) => {
        if (t === topics.handshake(a.deviceId, 'challenge')) resolve(p.toString());
      }),
    );
    await adapter.publish(topics.handshake(b.deviceId, 'challenge'), 'for-b');
    await adapter.publish(topics.handshake(a.deviceId, 'challenge'), 'for-a');
    assert.equal(await challenge, 'for-a');

    const p = randomBytes(4).toString('hex');
    await client.publishAsync(topics.handshake(a.deviceId, 'hello'), p, { qos: 1 });
    const hello = await waitFor('hello', () => received.find((m) => m.payload === p));
    assert.equal(hello.topic, topics.handshake(a.deviceId, 'hello'));
    assert.equal(hello.clientId, a.deviceId, 'the broker pins who may publish a hello, so the adapter names it');

    // Another device's topics, its own non-handshake topics, and the broker's topics are refused.
    for (const f of [
      topics.handshake(b.deviceId, 'challenge'),
      'tessera/v1/devices/+/handshake/challenge',
      topics.command(a.deviceId, 'reboot'),
      '#',
      '$CONTROL/dynamic-security/v1/response',
    ]) {
      assert.deepEqual(await subscribeCodes(client, f), [0x80], `subscribe ${f}`);
    }
    const marker = topics.handshake(a.deviceId, 'hello');
    for (const t of [
      topics.handshake(b.deviceId, 'hello'),
      topics.handshake(b.deviceId, 'response'),
      topics.telemetry(a.deviceId, 'power'),
      topics.status(a.deviceId),
      topics.handshake(a.deviceId, 'challenge'),
    ]) {
      const payload = randomBytes(4).toString('hex');
      await publishThenMarker(client, t, marker, payload);
      assert.equal(seen(t, payload), false, `publish to ${t} was delivered`);
    }
    // A forged control command from a device is dropped too: the device still exists afterwards.
    await client.publishAsync(
      '$CONTROL/dynamic-security/v1',
      JSON.stringify({ commands: [{ command: 'deleteClient', username: b.deviceId }] }),
      { qos: 1 },
    );
    await publishThenMarker(client, topics.handshake(b.deviceId, 'hello'), marker, 'after-forgery');
    assert.equal((await admin.getClient(b.deviceId)).username, b.deviceId);
  });

  it('refuses a wrong password, an unenrolled device and enrolled credentials under another client id', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const stranger = newDevice();
    // MQTT 3.1.1 §3.2.2.3: 4 bad user name or password, 5 not authorized (Mosquitto 2 answers 5).
    assert.ok([4, 5].includes(await refusedConnect(a.deviceId, `${a.password}x`, a.deviceId)));
    assert.ok([4, 5].includes(await refusedConnect(stranger.deviceId, stranger.password, stranger.deviceId)));
    const other = newDevice().deviceId;
    assert.ok([4, 5].includes(await refusedConnect(a.deviceId, a.password, other)), 'client id is pinned');
    // The right credentials still work.
    const ok = await connectDevice(a.deviceId, a.password);
    assert.equal(ok.connected, true);
  });

  it('enrol is idempotent: enrolling a connected device again keeps its session', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const client = await connectDevice(a.deviceId, a.password);
    let dropped = false;
    client.on('close', () => {
      dropped = true;
    });
    await adapter.enrol(a);
    await adapter.enrol(a);
    const p = randomBytes(4).toString('hex');
    await client.publishAsync(topics.handshake(a.deviceId, 'hello'), p, { qos: 1 });
    await waitFor('hello after re-enrol', () => (seen(topics.handshake(a.deviceId, 'hello'), p) ? true : undefined));
    assert.equal(dropped, false);
  });

  it('concurrent enrols of a new device all succeed and leave one working client', async () => {
    const a = newDevice();
    await Promise.all([adapter.enrol(a), adapter.enrol(a), adapter.enrol(a)]);
    const client = await connectDevice(a.deviceId, a.password);
    assert.equal(client.connected, true);
    assert.deepEqual((await admin.getClient(a.deviceId)).roles, [{ rolename: deviceRoleName(a.deviceId) }]);
  });

  it('grant widens the device to exactly the granted topics, live', async () => {
    const a = newDevice();
    const b = newDevice();
    await adapter.enrol(a);
    await adapter.enrol(b);
    const { client: own0, connection } = await connectApplied(a.deviceId, a.password);
    const marker = topics.handshake(a.deviceId, 'hello');
    const telemetry = topics.telemetry(a.deviceId, 'power');

    const before = randomBytes(4).toString('hex');
    await publishThenMarker(own0, telemetry, marker, before);
    assert.equal(seen(telemetry, before), false, 'telemetry before the grant');

    const own = deviceTopicPermissions(a.deviceId);
    const extra = topics.command(b.deviceId, 'set-limit');
    const { client, connection: sessionConnection } = await grantSession(a.deviceId, connection, {
      permissions: { publish: [...own.publish, extra], subscribe: own.subscribe },
    });

    // Now allowed, on the session login's connection: own telemetry, the one extra topic, own commands subtree.
    const after1 = randomBytes(4).toString('hex');
    await publishThenMarker(client, telemetry, marker, after1);
    assert.equal(seen(telemetry, after1), true, 'telemetry after the grant');
    await publishThenMarker(client, extra, marker, after1);
    assert.equal(seen(extra, after1), true, 'the granted extra topic');
    assert.deepEqual(await subscribeCodes(client, `${topics.command(a.deviceId, 'x').replace(/x$/, '#')}`), [1]);
    const cmd = new Promise<string>((resolve) =>
      client.on('message', (t, p) => {
        if (t.startsWith(topics.command(a.deviceId, 'x').replace(/x$/, ''))) resolve(`${t} ${p}`);
      }),
    );
    await adapter.publish(topics.command(a.deviceId, 'reboot'), 'now');
    assert.equal(await cmd, `${topics.command(a.deviceId, 'reboot')} now`);

    // Still refused: the topics next to the granted ones.
    const still = randomBytes(4).toString('hex');
    for (const t of [
      topics.command(b.deviceId, 'other'),
      topics.telemetry(b.deviceId, 'power'),
      topics.command(a.deviceId, 'self'),
    ]) {
      await publishThenMarker(client, t, marker, still);
      assert.equal(seen(t, still), false, `publish to ${t} after the grant`);
    }
    assert.deepEqual(await subscribeCodes(client, topics.command(b.deviceId, 'set-limit')), [0x80]);
    assert.deepEqual(await subscribeCodes(client, 'tessera/v1/devices/+/commands/#'), [0x80]);

    // A refresh on the session's connection widens it live, without a new login.
    const topicsAfter = { ...own, publish: [...own.publish, topics.command(b.deviceId, 'later')] };
    assert.equal(
      await adapter.grant({
        deviceId: a.deviceId,
        did: DID,
        permissions: topicsAfter,
        expiresAt: Date.now() + 60_000,
        connection: sessionConnection,
      }),
      true,
      'a refresh keeps the connection',
    );
    const later = randomBytes(4).toString('hex');
    await publishThenMarker(client, topics.command(b.deviceId, 'later'), marker, later);
    assert.equal(seen(topics.command(b.deviceId, 'later'), later), true, 'the refreshed grant applies live');
  });

  it('a grant ends at expiresAt: the role is back to the handshake topics', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const { connection } = await connectApplied(a.deviceId, a.password);
    const { client } = await grantSession(a.deviceId, connection, { expiresAt: Date.now() + 300 });
    const telemetry = topics.telemetry(a.deviceId, 'power');
    const marker = topics.handshake(a.deviceId, 'hello');
    // Wait for the event (the role changing back), not for a duration.
    await waitFor('the grant to expire', async () => {
      const role = await admin.getRole(sessionRoleName(a.deviceId));
      return role.acls.some((x) => x.topic === telemetry.replace(/power$/, '#')) ? undefined : true;
    });
    const p = randomBytes(4).toString('hex');
    await publishThenMarker(client, telemetry, marker, p);
    assert.equal(seen(telemetry, p), false);
  });

  it('the session login has the handshake topics through the device role; its own role only what a grant adds', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const { connection } = await connectApplied(a.deviceId, a.password);
    const { client, connection: onSession } = await grantSession(a.deviceId, connection);
    const session = await admin.getClient(sessionLoginOf(a.deviceId));
    assert.deepEqual(
      session.roles.map((r) => r.rolename).sort(),
      [deviceRoleName(a.deviceId), sessionRoleName(a.deviceId)].sort(),
    );
    const granted = (await admin.getRole(sessionRoleName(a.deviceId))).acls.map((x) => x.topic);
    assert.ok(!granted.some((t) => t.includes('/handshake/')), 'no handshake topic twice');
    assert.ok(granted.includes(topics.telemetry(a.deviceId, 'x').replace(/x$/, '#')));
    // a refresh from the session login's own connection: hello and response come through the device's role
    const hello = topics.handshake(a.deviceId, 'hello');
    const p = randomBytes(4).toString('hex');
    await client.publishAsync(hello, p, { qos: 1 });
    await waitFor('a hello from the session login', () => (seen(hello, p) ? true : undefined));
    assert.equal(
      await adapter.grant({
        deviceId: a.deviceId,
        did: DID,
        permissions: deviceTopicPermissions(a.deviceId),
        expiresAt: Date.now() + 60_000,
        connection: onSession,
      }),
      true,
    );
  });

  it('enrol gives a session login made by an earlier version (its own role only) the device role too', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const [removed] = await admin.execute([
      { command: 'removeClientRole', username: sessionLoginOf(a.deviceId), rolename: deviceRoleName(a.deviceId) },
    ]);
    assert.equal(removed?.error, undefined);
    assert.deepEqual(
      (await admin.getClient(sessionLoginOf(a.deviceId))).roles.map((r) => r.rolename),
      [sessionRoleName(a.deviceId)],
    );
    await adapter.enrol(a);
    assert.deepEqual(
      (await admin.getClient(sessionLoginOf(a.deviceId))).roles.map((r) => r.rolename).sort(),
      [deviceRoleName(a.deviceId), sessionRoleName(a.deviceId)].sort(),
    );
  });

  it('revoke (suspend) drops a live session at once and refuses reconnects; enrol again lets it back in', async (t) => {
    const a = newDevice();
    await adapter.enrol(a);
    const { connection } = await connectApplied(a.deviceId, a.password);
    const { client, login, password } = await grantSession(a.deviceId, connection);
    const gone = closed(client);
    const t0 = performance.now();
    await adapter.revoke(a.deviceId, { permanent: false, reason: 'operator suspended the device' });
    const t1 = await Promise.race([
      gone,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('session not dropped')), BOUND_MS)),
    ]);
    t.diagnostic(
      `mosquitto revoke(suspend) → session closed: ${(t1 - t0).toFixed(1)} ms (including the dynsec round trip)`,
    );
    assert.equal(client.connected, false);
    assert.ok([4, 5].includes(await refusedConnect(a.deviceId, a.password, a.deviceId)), 'suspended device refused');
    assert.ok([4, 5].includes(await refusedConnect(login, password, a.deviceId)), 'and its session login');
    assert.equal((await admin.getClient(a.deviceId)).disabled, true);

    // Resume: enrol again; it may connect, and it is back to the handshake topics (the old grant is gone).
    await adapter.enrol(a);
    const back = await connectDevice(a.deviceId, a.password);
    const telemetry = topics.telemetry(a.deviceId, 'power');
    const p = randomBytes(4).toString('hex');
    await publishThenMarker(back, telemetry, topics.handshake(a.deviceId, 'hello'), p);
    assert.equal(seen(telemetry, p), false, 'a resumed device must handshake again before it gets its topics');
    assert.ok([4, 5].includes(await refusedConnect(login, password, a.deviceId)), 'the old session login is gone');
  });

  it('revoke (permanent) drops the session and deletes the client and its role', async (t) => {
    const a = newDevice();
    await adapter.enrol(a);
    const client = await connectDevice(a.deviceId, a.password);
    const gone = closed(client);
    const t0 = performance.now();
    await adapter.revoke(a.deviceId, { permanent: true, reason: 'decommissioned' });
    const t1 = await Promise.race([
      gone,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('session not dropped')), BOUND_MS)),
    ]);
    t.diagnostic(`mosquitto revoke(permanent) → session closed: ${(t1 - t0).toFixed(1)} ms`);
    assert.ok([4, 5].includes(await refusedConnect(a.deviceId, a.password, a.deviceId)));
    const [c, r, sc, sr] = await admin.execute([
      { command: 'getClient', username: a.deviceId },
      { command: 'getRole', rolename: deviceRoleName(a.deviceId) },
      { command: 'getClient', username: sessionLoginOf(a.deviceId) },
      { command: 'getRole', rolename: sessionRoleName(a.deviceId) },
    ]);
    assert.equal(c?.error, 'Client not found');
    assert.equal(r?.error, 'Role not found');
    assert.equal(sc?.error, 'Client not found', 'the session login is deleted too');
    assert.equal(sr?.error, 'Role not found');
    // Revoking again, or revoking an unknown device, is a no-op, not an error.
    await adapter.revoke(a.deviceId, { permanent: true, reason: 'again' });
    await adapter.revoke(newDevice().deviceId, { permanent: false, reason: 'unknown' });
  });

  it('a takeover with the broker password gets nothing, not even for what it pipelines behind its CONNECT', async (t) => {
    const a = newDevice();
    await adapter.enrol(a);
    const commands = topics.command(a.deviceId, 'x').replace(/x$/, '#');
    const result = topics.handshake(a.deviceId, 'result');
    const generate = (p: Record<string, unknown>) =>
      mqttPacket.generate(p as unknown as Packet, { protocolVersion: 4 });
    const { port } = new URL(broker.url);
    const ROUNDS = 5;
    const TELEMETRY_PER_ROUND = 50;
    let { connection } = await connectApplied(a.deviceId, a.password);
    for (let round = 0; round < ROUNDS; round++) {
      // The device's session: granted, reconnected with its session login, subscribed to its commands.
      const session = await grantSession(a.deviceId, connection);
      assert.deepEqual(await subscribeCodes(session.client, commands), [1], 'the session has its commands');
      const dropped = closed(session.client);
      // The taker: the broker password only. CONNECT, SUBSCRIBE commands/# and its result topic, telemetry and a
      // sentinel hello, all in one TCP write, so that the broker reads them in one go.
      const tag = randomBytes(4).toString('hex');
      const telemetry = topics.telemetry(a.deviceId, 'meter');
      const sentinel = topics.handshake(a.deviceId, 'hello');
      const sock = tcpConnect({ host: '127.0.0.1', port: Number(port), noDelay: true });
      const packets: Packet[] = [];
      const arrived: (() => void)[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (p) => {
        packets.push(p);
        for (const f of arrived.splice(0)) f();
      });
      sock.on('data', (b) => parser.parse(b));
      sock.on('error', () => {});
      const packet = async (what: string, match: (p: Packet) => boolean): Promise<Packet> => {
        const deadline = Date.now() + BOUND_MS;
        for (;;) {
          const p = packets.find(match);
          if (p) return p;
          if (Date.now() > deadline) assert.fail(`no ${what} from the broker`);
          await new Promise<void>((resolve) => {
            arrived.push(resolve);
            setTimeout(resolve, 50);
          });
        }
      };
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      });
      const publish = (topic: string, payload: string, messageId: number) =>
        generate({
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: 1,
          messageId,
          retain: false,
          dup: false,
        });
      sock.write(
        Buffer.concat([
          generate({
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 4,
            clean: true,
            clientId: a.deviceId,
            keepalive: 60,
            username: a.deviceId,
            password: Buffer.from(a.password),
          }),
          generate({
            cmd: 'subscribe',
            messageId: 1,
            subscriptions: [
              { topic: commands, qos: 1 },
              { topic: result, qos: 1 },
            ],
          }),
          ...Array.from({ length: TELEMETRY_PER_ROUND }, (_, i) => publish(telemetry, `${tag}-${i}`, 10 + i)),
          publish(sentinel, `sentinel-${tag}`, 9),
        ]),
      );
      const connack = (await packet('CONNACK', (p) => p.cmd === 'connack')) as { returnCode: number };
      assert.equal(connack.returnCode, 0, 'the broker password still logs in (handshake topics)');
      const suback = (await packet('SUBACK', (p) => p.cmd === 'suback')) as { granted: number[] };
      assert.deepEqual(suback.granted, [0x80, 1], 'commands/# refused, its own result topic allowed');
      await dropped; // the session's connection was taken over (same client id)
      // MQTT keeps one connection's order (§4.6): once the sentinel reached the verifier, every telemetry PUBLISH
      // before it was decided.
      await waitFor('the sentinel at the verifier', () => (seen(sentinel, `sentinel-${tag}`) ? true : undefined));
      const leaked = received.filter((m) => m.topic === telemetry && m.payload.startsWith(`${tag}-`)).length;
      assert.equal(leaked, 0, `${leaked} of ${TELEMETRY_PER_ROUND} pipelined telemetry messages reached the verifier`);
      // A command the services send now, then a result on the taker's own topic from the same verifier connection:
      // the result arriving shows the command was not delivered before it.
      await adapter.publish(topics.command(a.deviceId, 'reboot'), `command-${tag}`);
      await adapter.publish(result, `after-${tag}`);
      await packet('the result sentinel', (p) => p.cmd === 'publish' && (p as { topic: string }).topic === result);
      assert.ok(
        !packets.some((p) => p.cmd === 'publish' && (p as { topic: string }).topic !== result),
        'no command reached the taker',
      );
      // The device comes back with its own login (taking over the taker) and earns a new session.
      const back = await connectApplied(a.deviceId, a.password);
      connection = back.connection;
      assert.ok(
        [4, 5].includes(await refusedConnect(session.login, session.password, a.deviceId)),
        'old session closed',
      );
      sock.destroy();
    }
    t.diagnostic(
      `${ROUNDS} takeovers, each with SUBSCRIBE commands/# and ${TELEMETRY_PER_ROUND} telemetry PUBLISHes in its CONNECT's write: nothing served, nothing delivered`,
    );
  });

  it('after a disconnect the device logs in with its own login, handshakes again and gets a new session login', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    const commands = topics.command(a.deviceId, 'x').replace(/x$/, '#');
    const first = await connectApplied(a.deviceId, a.password);
    const s1 = await grantSession(a.deviceId, first.connection);
    assert.deepEqual(await subscribeCodes(s1.client, commands), [1]);
    // The session's connection ends (the device reboots); when its own login connects, the session login is closed.
    const ended = adapter.nextConnection(a.deviceId);
    await s1.client.endAsync();
    const again = await connectDevice(a.deviceId, a.password);
    const connection = await ended;
    assert.deepEqual(await subscribeCodes(again, commands), [0x80], 'nothing inherited');
    assert.ok([4, 5].includes(await refusedConnect(s1.login, s1.password, a.deviceId)), 'the old session is closed');
    const s2 = await grantSession(a.deviceId, connection);
    assert.deepEqual(await subscribeCodes(s2.client, commands), [1], 'its new session');
  });

  it('numbers a message by the connection that sent it, even when the verifier reads late (one queue, one QoS)', async () => {
    // The per-connection grant stands on this: every notice about a device reaches the verifier after the messages
    // sent before it. The verifier stops reading its socket while a device sends more hellos (QoS 1) than Mosquitto's
    // inflight window (20) and a takeover of its client id then connects. Were the notices and the device topics
    // subscribed at different QoS, the takeover's notice would overtake the hellos queued behind the window, and
    // those hellos would be taken for the taker's.
    const a = newDevice();
    await adapter.enrol(a);
    const hello = topics.handshake(a.deviceId, 'hello');
    const seenHellos: { payload: string; id: number | undefined }[] = [];
    await adapter.subscribe(hello, (_t, payload, _c, _s, connection) => {
      seenHellos.push({ payload: payload.toString('utf8'), id: connection?.id });
    });
    const first = await connectApplied(a.deviceId, a.password);
    const verifierSocket = (adapter as unknown as { client: MqttClient }).client.stream;
    verifierSocket.pause();
    const sent: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const p = `hello-${i}-${randomBytes(4).toString('hex')}`;
        sent.push(p);
        await first.client.publishAsync(hello, p, { qos: 1 }); // acknowledged by the broker, queued for the verifier
      }
      await connectDevice(a.deviceId, a.password); // a takeover: the broker notices it while the hellos wait
    } finally {
      verifierSocket.resume();
    }
    const next = adapter.nextConnection(a.deviceId);
    await waitFor('the 30 hellos', () =>
      sent.every((p) => seenHellos.some((h) => h.payload === p)) ? true : undefined,
    );
    const taker = await next;
    assert.ok(taker.id > first.connection.id);
    const ids = sent.map((p) => seenHellos.find((h) => h.payload === p)?.id);
    assert.deepEqual(
      ids,
      sent.map(() => first.connection.id),
      'every hello carries the connection that sent it',
    );
  });

  it('grant for a device that is not enrolled fails with ERR_DEVICE_UNKNOWN', async () => {
    const a = newDevice();
    await assert.rejects(
      adapter.grant({
        deviceId: a.deviceId,
        did: 'did:ethr:0x7a69:0x0000000000000000000000000000000000000001',
        permissions: deviceTopicPermissions(a.deviceId),
        expiresAt: Date.now() + 60_000,
        connection: { deviceId: a.deviceId, id: 0 },
        sessionPassword: randomBytes(32).toString('base64url'),
      }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_DEVICE_UNKNOWN',
    );
  });

  it('the verifier may not subscribe outside its permissions (ERR_TOPIC_FORBIDDEN)', async () => {
    for (const f of ['#', 'tessera/v1/market/orders', '$SYS/#']) {
      await assert.rejects(
        adapter.subscribe(f, () => {}),
        (e: unknown) => e instanceof TesseraError && e.code === 'ERR_TOPIC_FORBIDDEN',
        f,
      );
    }
  });

  it('a grant left by another replica (or before a restart) is narrowed at the device’s next connection', async () => {
    const a = newDevice();
    // Replica A grants the device's connection, then goes away (its stop leaves the role as it is).
    const other = new MosquittoBrokerAdapter({ url: broker.url, admin: broker.admin });
    await other.start();
    await other.enrol(a);
    const seenByOther = other.nextConnection(a.deviceId);
    await connectDevice(a.deviceId, a.password);
    const connection = await seenByOther;
    const { client: first, login, password } = await grantSession(a.deviceId, connection, { via: other });
    await other.stop();
    const commands = `${topics.command(a.deviceId, 'x').replace(/x$/, '#')}`;
    assert.deepEqual(await subscribeCodes(first, commands), [1], 'granted while A ran');
    // This replica never granted it; a takeover with the broker password must not inherit A's grant, and the session
    // login must not be usable again. (The second is the grant's minimum age for a replica that did not make it; the
    // test waits for the event, not time.)
    const narrowing = new MosquittoBrokerAdapter({ url: broker.url, admin: broker.admin, foreignGrantMinAgeMs: 0 });
    await narrowing.start();
    try {
      const { client: taker } = await (async () => {
        const applied = narrowing.nextConnection(a.deviceId);
        const client = await connectDevice(a.deviceId, a.password);
        await applied;
        return { client };
      })();
      assert.deepEqual(await subscribeCodes(taker, commands), [0x80], 'nothing on the device login');
      // the foreign grant is out of reach: the only login that has it can no longer log in
      assert.ok([4, 5].includes(await refusedConnect(login, password, a.deviceId)), 'the session login is closed');
    } finally {
      await narrowing.stop();
    }
  });

  // Why grants live on a session login rather than on the device's own (docs/mosquitto.md, "Session logins"): the only
  // things the plugin checks at CONNECT are a client's password, its pinned client id and its disabled flag, and
  // changing any of them drops every live connection of that username. So a login that holds a grant cannot be locked
  // against a takeover's CONNECT while its connection lives; the adapter relies on this when it replaces a session
  // login's password at the end of a session (no one is left on it) and keeps it at enrol (a device may be on it).
  it('changing a connected client’s password or pinned client id drops its live session (no lock without a kick)', async () => {
    const a = newDevice();
    await adapter.enrol(a);
    for (const change of [
      { command: 'setClientPassword', username: a.deviceId, password: randomBytes(32).toString('base64url') },
      { command: 'setClientId', username: a.deviceId, clientid: `${a.deviceId}-locked` },
    ]) {
      const { client } = await connectApplied(a.deviceId, a.password);
      const gone = closed(client);
      await admin.batch([change]);
      await Promise.race([
        gone,
        new Promise<number>((_, reject) =>
          setTimeout(() => reject(new Error(`${change.command} kept the session`)), BOUND_MS),
        ),
      ]);
      assert.equal(client.connected, false, `${change.command} dropped the live connection`);
      // Back as it was, so the next round (and the device) can connect again.
      await admin.batch([
        { command: 'setClientPassword', username: a.deviceId, password: a.password },
        { command: 'setClientId', username: a.deviceId, clientid: a.deviceId },
      ]);
    }
  });

  it('start refuses a broker without connection notices or without max_packet_size (ERR_BROKER_CONFIG)', async () => {
    for (const [omit, named] of [
      [{ connectionNotices: true }, /log_dest topic/],
      [{ maxPacketSize: true }, /max_packet_size/],
    ] as const) {
      const b = await startMosquitto({ omit });
      const a = new MosquittoBrokerAdapter({ url: b.url, admin: b.admin, controlTimeoutMs: 1_500 });
      try {
        await assert.rejects(
          a.start(),
          (e: unknown) => e instanceof TesseraError && e.code === 'ERR_BROKER_CONFIG' && named.test(e.message),
        );
      } finally {
        await a.stop();
        await b.stop();
      }
    }
  });

  it('the verifier may not publish a device hello (so a hello names its device)', async () => {
    const a = newDevice();
    await assert.rejects(
      adapter.publish(topics.handshake(a.deviceId, 'hello'), 'forged'),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_TOPIC_FORBIDDEN',
    );
  });
});

describe('DynsecClient', () => {
  let broker2: MosquittoInstance;
  before(async () => {
    broker2 = await startMosquitto();
  });
  after(async () => {
    await broker2?.stop();
  });

  it('returns coded errors with the broker message for refused commands', async () => {
    const c = await DynsecClient.connect({ url: broker2.url, ...broker2.admin });
    try {
      await assert.rejects(c.getClient('nobody'), (e: unknown) => {
        assert.ok(e instanceof TesseraError);
        assert.equal(e.code, 'ERR_BROKER_CONTROL_FAILED');
        assert.deepEqual(e.details, { command: 'getClient', error: 'Client not found' });
        return true;
      });
      await c.createRole({ rolename: 'r', acls: [{ acltype: 'publishClientSend', topic: 'a/b', allow: true }] });
      await c.addRoleACL('r', { acltype: 'subscribeLiteral', topic: 'a/c', allow: true });
      await c.removeRoleACL('r', { acltype: 'publishClientSend', topic: 'a/b' });
      assert.deepEqual(
        (await c.getRole('r')).acls.map((a) => `${a.acltype} ${a.topic}`),
        ['subscribeLiteral a/c'],
      );
      await c.createClient({ username: 'u', password: 'p', clientid: 'u' });
      await c.addClientRole('u', 'r');
      assert.deepEqual((await c.getClient('u')).roles, [{ rolename: 'r' }]);
      await c.removeClientRole('u', 'r');
      assert.deepEqual((await c.getClient('u')).roles, []);
      assert.ok((await c.listClients()).some((x) => x.username === 'u'));
      await c.disableClient('u');
      assert.equal((await c.getClient('u')).disabled, true);
      await c.enableClient('u');
      assert.notEqual((await c.getClient('u')).disabled, true);
      // One message, answers in order, each with its own outcome.
      const rs = await c.execute([
        { command: 'createClient', username: 'u', password: 'p' },
        { command: 'deleteClient', username: 'u' },
        { command: 'deleteRole', rolename: 'r' },
      ]);
      assert.deepEqual(
        rs.map((r) => r.error),
        ['Client already exists', undefined, undefined],
      );
    } finally {
      await c.close();
    }
  });

  it('correlates answers between admin connections sharing the broker', async () => {
    const one = await DynsecClient.connect({ url: broker2.url, ...broker2.admin });
    const two = await DynsecClient.connect({ url: broker2.url, ...broker2.admin });
    try {
      const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
      await Promise.all(names.map((n, i) => (i % 2 ? one : two).createClient({ username: n, textname: n })));
      const got = await Promise.all(names.map((n, i) => (i % 2 ? two : one).getClient(n)));
      assert.deepEqual(
        got.map((g) => g.username),
        names,
      );
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('times out with ERR_BROKER_CONTROL_TIMEOUT when the broker stops answering', async () => {
    const c = await DynsecClient.connect({ url: broker2.url, ...broker2.admin, timeoutMs: 300 });
    process.kill(broker2.pid, 'SIGSTOP');
    try {
      await assert.rejects(
        c.listClients(),
        (e: unknown) => e instanceof TesseraError && e.code === 'ERR_BROKER_CONTROL_TIMEOUT',
      );
    } finally {
      process.kill(broker2.pid, 'SIGCONT');
      await c.close();
    }
  });

  it('refuses a login that may not use the control API', async () => {
    const c = await DynsecClient.connect({ url: broker2.url, ...broker2.admin });
    await c.createClient({ username: 'plain', password: 'pw' });
    await c.close();
    await assert.rejects(
      DynsecClient.connect({ url: broker2.url, username: 'plain', password: 'pw' }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_BROKER_CONTROL_FAILED',
    );
    await assert.rejects(
      DynsecClient.connect({ url: broker2.url, username: 'plain', password: 'wrong', connectTimeoutMs: 2_000 }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_BROKER_UNREACHABLE',
    );
  });

  it('fails commands in flight with ERR_BROKER_UNREACHABLE when the broker goes away (last: it kills the broker)', async () => {
    const c = await DynsecClient.connect({ url: broker2.url, ...broker2.admin, timeoutMs: 60_000 });
    try {
      process.kill(broker2.pid, 'SIGSTOP');
      const pending = c.listClients();
      process.kill(broker2.pid, 'SIGKILL');
      await assert.rejects(pending, (e: unknown) => e instanceof TesseraError && e.code === 'ERR_BROKER_UNREACHABLE');
      // It keeps trying to reconnect; the refused reconnects are recorded, not thrown (an 'error' event without a
      // listener would crash the process).
      await waitFor('a refused reconnect', () => c.lastError);
      assert.equal(c.connected, false);
    } finally {
      await c.close();
    }
  });
});
