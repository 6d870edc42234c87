import { deviceIdFromTopic, type ErrorShape, TOPIC_ROOT } from '@tessera/protocol';
import type { BrokerAdapter } from '@tessera/verifier';
import type { MeterReading } from './market/billing.js';
import type { EnergyMarket } from './market-service.js';

/** The telemetry stream meters publish readings on: tessera/v1/devices/{deviceId}/telemetry/meter. */
export const METER_STREAM = 'meter';
/** Readings are small JSON objects; anything larger is refused unread. */
export const MAX_READING_BYTES = 4096;

export interface MeterReadingHooks {
  onAccepted?(deviceId: string, reading: MeterReading): void;
  onRefused?(deviceId: string | undefined, error: ErrorShape): void;
}

/**
 * Take meter readings from authenticated devices: subscribes to every device's `telemetry/meter` topic. The broker
 * lets a device publish only under its own device id once its handshake succeeded (deny by default), and stamps the
 * publishing client id on the message; this handler additionally requires that client id to be the topic's device,
 * the device to be a registered meter gateway, and the reading to name that device's own meter
 * (`ERR_TOPIC_FORBIDDEN` otherwise). The market then checks the reading itself (period, nameplate, duplicates).
 */
export async function attachMeterReadings(
  broker: Pick<BrokerAdapter, 'subscribe'>,
  market: EnergyMarket,
  hooks: MeterReadingHooks = {},
): Promise<void> {
  const refuse = (deviceId: string | undefined, error: ErrorShape) => {
    market.countRefusal(error.code);
    hooks.onRefused?.(deviceId, error);
  };
  await broker.subscribe(`${TOPIC_ROOT}/devices/+/telemetry/${METER_STREAM}`, (topic, payload, clientId) => {
    const deviceId = deviceIdFromTopic(topic);
    if (deviceId === undefined || clientId !== deviceId)
      return refuse(deviceId, { code: 'ERR_TOPIC_FORBIDDEN', message: 'a reading must come from the device it names' });
    if (payload.length > MAX_READING_BYTES)
      return refuse(deviceId, {
        code: 'ERR_BODY_TOO_LARGE',
        message: `a reading is at most ${MAX_READING_BYTES} bytes`,
      });
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return refuse(deviceId, { code: 'ERR_JSON_MALFORMED', message: 'the reading is not valid JSON' });
    }
    void (async () => {
      const meterId = await market.meterOf(deviceId);
      if (meterId === undefined)
        return refuse(deviceId, { code: 'ERR_TOPIC_FORBIDDEN', message: `device ${deviceId} is not a meter gateway` });
      const r = await market.recordReading(meterId, body);
      if (r.ok) hooks.onAccepted?.(deviceId, r.value);
      else hooks.onRefused?.(deviceId, r.error); // recordReading already counted it
    })().catch((e: unknown) =>
      refuse(deviceId, { code: 'ERR_UNAVAILABLE', message: `the reading could not be recorded: ${String(e)}` }),
    );
  });
}
