import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, describe, it } from 'node:test';
import { deriveBrokerPassword } from '@tessera/protocol';
import mqtt from 'mqtt';
import { AedesBrokerAdapter } from './aedes.js';

const id = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const secret = (n: number) => Buffer.alloc(32, n);

/** CONNECT as device `n` with its broker password; resolves 'accepted' or 'refused' (and the time it took). */
function connect(broker: AedesBrokerAdapter, n: number): Promise<{ outcome: 'accepted' | 'refused'; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = mqtt.connect(broker.url, {
      clientId: id(n),
      username: id(n),
      password: deriveBrokerPassword(secret(n)),
      reconnectPeriod: 0,
      connectTimeout: 20_000,
    });
    c.once('connect', () => {
      c.end(true);
      resolve({ outcome: 'accepted', ms: Date.now() - t0 });
    });
    c.once('error', () => {
      c.end(true);
      resolve({ outcome: 'refused', ms: Date.now() - t0 });
    });
  });
}

const brokers: AedesBrokerAdapter[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});
async function started(o: ConstructorParameters<typeof AedesBrokerAdapter>[0]) {
  const b = new AedesBrokerAdapter({ port: 0, ...o });
  brokers.push(b);
  await b.start();
  return b;
}

describe('aedes adapter: CONNECTs while the verifier loads its devices after a restart', () => {
  it('holds a device not enrolled yet until the devices are loaded, then decides', async () => {
    const broker = await started({ holdUnknownUntilLoadedMs: 10_000 });
    const early = connect(broker, 1); // its enrolment comes later, as during a restart
    const stranger = connect(broker, 2); // never enrolled
    await new Promise((r) => setTimeout(r, 300));
    await broker.enrol({ deviceId: id(1), password: deriveBrokerPassword(secret(1)) });
    broker.devicesLoaded();
    assert.equal((await early).outcome, 'accepted');
    assert.equal((await stranger).outcome, 'refused');
    // once loaded, an unknown device is refused at once
    const late = await connect(broker, 3);
    assert.equal(late.outcome, 'refused');
    assert.ok(late.ms < 2_000, `refused after ${late.ms} ms`);
  });

  it('refuses a held CONNECT when the devices are not loaded within the hold time', async () => {
    const broker = await started({ holdUnknownUntilLoadedMs: 300 });
    const r = await connect(broker, 4);
    assert.equal(r.outcome, 'refused');
    assert.ok(r.ms >= 250, `decided after ${r.ms} ms`);
  });

  it('without a hold, an unknown device is refused at once (the default)', async () => {
    const broker = await started({});
    assert.equal((await connect(broker, 5)).outcome, 'refused');
  });
});

/** The part of aedes' internal message bus (mqemitter) this test drives. */
interface MessageBus {
  on(topic: string, handler: (message: unknown, done: () => void) => void): void;
  emit(message: { topic: string; payload: Buffer }, done?: () => void): void;
}

describe('aedes adapter: the message bus under a connect storm', () => {
  it('does not recurse once per queued message (a 10,000-device storm overflowed the stack)', async () => {
    const broker = await started({});
    const bus = (broker as unknown as { broker: { mq: MessageBus } }).broker.mq;
    // Messages whose delivery is still under way (a slow client's socket, say) hold their slot on the bus...
    const held: Array<() => void> = [];
    bus.on('test/slow', (_message, done) => held.push(done));
    for (let i = 0; i < 150; i++) bus.emit({ topic: 'test/slow', payload: Buffer.alloc(0) });
    // ...while every CONNECT announces itself on $SYS/<broker>/new/clients, whose handler finishes at once. With aedes'
    // default bus (at most 100 messages at a time, the rest queued), each release ran the next queued message inside
    // the previous one's callback: one stack frame group per queued message, until "Maximum call stack size exceeded".
    let announced = 0;
    for (let i = 0; i < 30_000; i++) {
      bus.emit({ topic: '$SYS/another-broker/new/clients', payload: Buffer.from(`device-${i}`) }, () => announced++);
    }
    while (held.length > 0) held.shift()?.();
    assert.equal(announced, 30_000);
  });
});

describe('aedes adapter: memory', () => {
  it("does not build mqtt-packet's cache of 65,536 number Buffers", async () => {
    const broker = await started({});
    await broker.enrol({ deviceId: id(7), password: deriveBrokerPassword(secret(7)) });
    const c = await mqtt.connectAsync(broker.url, {
      clientId: id(7),
      username: id(7),
      password: deriveBrokerPassword(secret(7)),
      reconnectPeriod: 0,
    });
    // A SUBACK carries a packet id: the first number the broker writes (refused here, 0x80, all the same).
    await c.subscribeAsync('somewhere/else').catch(() => undefined);
    await c.endAsync(true);
    const { cache } = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };
    assert.equal(Object.keys(cache).length, 0);
  });
  it("keeps neither the CONNECT's password nor a view into its read buffer for the session's life", async () => {
    const broker = await started({});
    await broker.enrol({ deviceId: id(8), password: deriveBrokerPassword(secret(8)) });
    // See the Buffer the broker is handed as the password (a view into the chunk the CONNECT was read into).
    type Decide = (client: unknown, username: unknown, password: Buffer | undefined, done: unknown) => void;
    const adapter = broker as unknown as { decide: Decide };
    const decide = adapter.decide.bind(broker);
    let handed: Buffer | undefined;
    adapter.decide = (client, username, password, done) => {
      handed = password;
      decide(client, username, password, done);
    };
    const c = await mqtt.connectAsync(broker.url, {
      clientId: id(8),
      username: id(8),
      password: deriveBrokerPassword(secret(8)),
      will: { topic: 'tessera/v1/devices/x/status', payload: Buffer.from('offline'), qos: 1, retain: false },
      reconnectPeriod: 0,
    });
    try {
      const client = (broker as unknown as { clients: Map<string, Record<string, unknown>> }).clients.get(id(8));
      assert.ok(client, 'the device is connected');
      const internals = client as {
        _parser: { settings: { clientId?: string; password?: Buffer } };
        will: { payload: Buffer } | null;
      };
      // aedes keeps the CONNECT packet (the parser's settings) and the will as long as the client is connected.
      assert.equal(internals._parser.settings.clientId, id(8), 'this is the CONNECT packet aedes keeps');
      assert.equal(internals._parser.settings.password, undefined, 'no password kept');
      assert.ok(internals.will, 'the will is kept (it is published if the device vanishes)');
      assert.equal(internals.will.payload.toString(), 'offline');
      assert.ok(handed && handed.length > 0);
      assert.ok(
        handed.every((b) => b === 0),
        'the password bytes are zeroed once checked',
      );
      // A copy, not a view of the chunk the packet was read into (which held the password too).
      assert.notEqual(internals.will.payload.buffer, handed.buffer, 'the will payload is a copy');
      // ...in an allocation of its own size, not a slice of Node's shared Buffer pool (which would keep 8 KB alive).
      assert.equal(internals.will.payload.buffer.byteLength, internals.will.payload.length);
    } finally {
      await c.endAsync(true);
    }
  });
});
