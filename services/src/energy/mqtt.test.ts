import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deviceIdOf, deviceTopicPermissions, type ErrorShape, topics } from '@tessera/protocol';
import { AedesBrokerAdapter } from '@tessera/verifier';
import mqtt, { type MqttClient } from 'mqtt';
import type { MeterReading } from './market/billing.js';
import { EnergyMarket } from './market-service.js';
import { attachMeterReadings, METER_STREAM } from './mqtt.js';

const PERIOD_MS = 900_000;
const clock = 500 * PERIOD_MS + 1000;
const broker = new AedesBrokerAdapter({ port: 0, host: '127.0.0.1' });
const market = new EnergyMarket({ periodMs: PERIOD_MS, now: () => clock });
const manufacturer = '0x00000000000000000000000000000000000000aa';
const meterA = { meterId: 'FR-MRS-0101', deviceId: deviceIdOf(manufacturer, 'A'), password: 'pw-a-0123456789' };
const meterB = { meterId: 'FR-MRS-0102', deviceId: deviceIdOf(manufacturer, 'B'), password: 'pw-b-0123456789' };
const thermostat = { deviceId: deviceIdOf(manufacturer, 'T'), password: 'pw-t-0123456789' };
const clients: MqttClient[] = [];

/** Every accepted or refused reading, in arrival order, awaited by the next expectation. */
const events: { deviceId: string | undefined; reading?: MeterReading; error?: ErrorShape }[] = [];
let wake: (() => void) | undefined;
async function nextEvent() {
  while (events.length === 0) await new Promise<void>((r) => (wake = r));
  return events.shift()!;
}

async function connect(d: { deviceId: string; password: string }) {
  const c = mqtt.connect(broker.url, {
    clientId: d.deviceId,
    username: d.deviceId,
    password: d.password,
    reconnectPeriod: 0,
  });
  clients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  // what a successful handshake on this connection grants (the handshake itself is the verifier's suite)
  const connection = broker.connectionOf(d.deviceId);
  assert.ok(connection);
  await broker.grant({
    deviceId: d.deviceId,
    did: `did:ethr:0x7a69:${d.deviceId.slice(0, 42)}`,
    permissions: deviceTopicPermissions(d.deviceId),
    expiresAt: Date.now() + 600_000,
    connection,
  });
  return c;
}
const publish = (c: MqttClient, topic: string, payload: unknown) =>
  new Promise<void>((resolve) =>
    c.publish(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 }, () => resolve()),
  );

before(async () => {
  await broker.start();
  for (const d of [meterA, meterB, thermostat]) await broker.enrol({ deviceId: d.deviceId, password: d.password });
  for (const [i, m] of [meterA, meterB].entries())
    market.registerMeter({
      meterId: m.meterId,
      participant: `did:example:p${i}`,
      nameplateW: 6000,
      deviceId: m.deviceId,
    });
  await attachMeterReadings(broker, market, {
    onAccepted: (deviceId, reading) => {
      events.push({ deviceId, reading });
      wake?.();
    },
    onRefused: (deviceId, error) => {
      events.push({ deviceId, error });
      wake?.();
    },
  });
});

after(async () => {
  for (const c of clients) c.end(true);
  await broker.stop();
});

describe('meter readings over MQTT from authenticated devices', () => {
  it('records a reading a meter gateway publishes for its own meter', async () => {
    const a = await connect(meterA);
    await publish(a, topics.telemetry(meterA.deviceId, METER_STREAM), {
      meterId: meterA.meterId,
      periodId: 500,
      consumedWh: 120,
      producedWh: 0,
    });
    const e = await nextEvent();
    assert.equal(e.deviceId, meterA.deviceId);
    assert.deepEqual(e.reading, {
      participant: 'did:example:p0',
      meterId: meterA.meterId,
      consumedWh: 120,
      producedWh: 0,
    });
  });

  it('refuses a reading for a meter that is not the device’s own', async () => {
    const a = await connect(meterA);
    await publish(a, topics.telemetry(meterA.deviceId, METER_STREAM), {
      meterId: meterB.meterId,
      periodId: 500,
      consumedWh: 1,
      producedWh: 0,
    });
    const e = await nextEvent();
    assert.equal(e.error?.code, 'ERR_TOPIC_FORBIDDEN');
    // B's own reading for the period is still open to B
    assert.ok(
      (
        await market.recordReading(meterB.meterId, {
          meterId: meterB.meterId,
          periodId: 500,
          consumedWh: 5,
          producedWh: 0,
        })
      ).ok,
    );
  });

  it('never sees a device publishing under another device’s topic: the broker refuses it', async () => {
    const a = await connect(meterA);
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    a.publish(topics.telemetry(meterB.deviceId, METER_STREAM), JSON.stringify({ meterId: meterB.meterId }), { qos: 1 });
    await closed; // MQTT 3.1.1 has no negative PUBACK: the broker drops the connection
    // the next event is the thermostat's, proving nothing from A's forged publish was delivered
    const t = await connect(thermostat);
    await publish(t, topics.telemetry(thermostat.deviceId, METER_STREAM), { meterId: 'FR-MRS-0999', periodId: 500 });
    const e = await nextEvent();
    assert.equal(e.deviceId, thermostat.deviceId);
    assert.equal(e.error?.code, 'ERR_TOPIC_FORBIDDEN', 'a device that is not a meter gateway reports no readings');
  });

  it('refuses malformed JSON, readings above nameplate and a second reading for the same period', async () => {
    const a = await connect(meterA);
    const topic = topics.telemetry(meterA.deviceId, METER_STREAM);
    await publish(a, topic, '{"meterId": ');
    assert.equal((await nextEvent()).error?.code, 'ERR_JSON_MALFORMED');
    await publish(a, topic, { meterId: meterA.meterId, periodId: 499, consumedWh: 0, producedWh: 1501 });
    assert.equal((await nextEvent()).error?.code, 'ERR_MARKET_READING_INVALID', '6 kW × 15 min is at most 1,500 Wh');
    await publish(a, topic, { meterId: meterA.meterId, periodId: 500, consumedWh: 1, producedWh: 0 });
    assert.equal((await nextEvent()).error?.code, 'ERR_CONFLICT');
  });
});
