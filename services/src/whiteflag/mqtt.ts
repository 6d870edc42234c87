import { type ErrorShape, type Logger, silentLogger, topics, whiteflagSignalOfTopic } from '@tessera/protocol';
import {
  isSignSignalCode,
  NO_LATITUDE,
  NO_LONGITUDE,
  notation,
  type WhiteflagMessage,
} from '@tessera/protocol/whiteflag';
import type { BrokerAdapter, PolicyEngine, VerifiedCredential } from '@tessera/verifier';
import type { Result } from '@tessera/protocol';
import type { WhiteflagAccounts } from './accounts.js';
import { DeviceSignalSchema } from './schemas.js';
import type { WhiteflagSender } from './sender.js';
import type { AreaRow, ReceivedRow, WhiteflagStore } from './store.js';

/** A device's signal is a small JSON object (its session credential included); anything larger is refused unread. */
export const MAX_SIGNAL_BYTES = 16 * 1024;

export interface WhiteflagBridgeDeps {
  broker: Pick<BrokerAdapter, 'subscribe' | 'publish'>;
  /** The credential core: a DeviceSessionCredential's signature by a trusted issuer, validity period and status. */
  sessions: { verifyCredential(jwt: unknown): Promise<Result<VerifiedCredential>> };
  /** The policies of verifier/policies/default.json (`whiteflag.device.*` for the signal topics). */
  policy: Pick<PolicyEngine, 'evaluate'>;
  accounts: WhiteflagAccounts;
  sender: WhiteflagSender;
  store: WhiteflagStore;
  log?: Logger;
  /** Told about every signal sent or refused (tests, metrics). */
  onOutcome?(
    deviceId: string | undefined,
    outcome: { ok: true; txHash: string | null } | { ok: false; error: ErrorShape },
  ): void;
}

/**
 * The MQTT side of Whiteflag (docs/whiteflag.md):
 * - a device publishes a sign or signal on its own `whiteflag/signals/{code}` topic with its session credential; the
 *   bridge checks that the publisher is that device, that the credential is a valid DeviceSessionCredential (the
 *   credential core: trusted issuer, validity, status), and
 *   that the policies let that credential publish that code on that topic (deny by default), then sends it on chain
 *   from the device's own account (authenticated by method 2 with its pre-shared secret);
 * - `deliver` publishes the authentic signs and signals the listener receives to the `whiteflag/inbox` of every device
 *   whose area holds their location.
 */
export class WhiteflagBridge {
  private readonly log: Logger;
  readonly stats = { sent: 0, refused: 0, delivered: 0 };

  constructor(private readonly d: WhiteflagBridgeDeps) {
    this.log = (d.log ?? silentLogger).child({ part: 'whiteflag-mqtt' });
  }

  async start(): Promise<void> {
    await this.d.broker.subscribe(topics.whiteflagSignalsInbound(), (topic, payload, clientId) => {
      void this.onSignal(topic, payload, clientId).catch((e) => this.log.error({ err: e, topic }, 'whiteflag signal'));
    });
  }

  private refuse(deviceId: string | undefined, error: ErrorShape): void {
    this.stats.refused++;
    this.log.info({ deviceId, code: error.code, reason: error.message }, 'whiteflag signal refused');
    this.d.onOutcome?.(deviceId, { ok: false, error });
  }

  private async onSignal(topic: string, payload: Buffer, clientId: string | undefined): Promise<void> {
    const t = whiteflagSignalOfTopic(topic);
    if (!t || clientId !== t.deviceId)
      return this.refuse(t?.deviceId, {
        code: 'ERR_TOPIC_FORBIDDEN',
        message: 'a signal must come from the device it names',
      });
    if (payload.length > MAX_SIGNAL_BYTES)
      return this.refuse(t.deviceId, {
        code: 'ERR_BODY_TOO_LARGE',
        message: `a signal is at most ${MAX_SIGNAL_BYTES} bytes`,
      });
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return this.refuse(t.deviceId, { code: 'ERR_JSON_MALFORMED', message: 'the signal is not JSON' });
    }
    const parsed = DeviceSignalSchema.safeParse(json);
    if (!parsed.success)
      return this.refuse(t.deviceId, {
        code: 'ERR_VALIDATION',
        message: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
      });
    const signal = parsed.data;
    const vc = await this.d.sessions.verifyCredential(signal.credential);
    if (!vc.ok) return this.refuse(t.deviceId, vc.error);
    if (!vc.value.types.includes('DeviceSessionCredential'))
      return this.refuse(t.deviceId, {
        code: 'ERR_FORBIDDEN',
        message: 'the credential is not a DeviceSessionCredential',
      });
    const decision = this.d.policy.evaluate({ resource: topic, action: 'publish' }, [vc.value]);
    if (!decision.ok) return this.refuse(t.deviceId, decision.error);
    const account = await this.d.accounts.ensureDeviceAccount({ deviceId: t.deviceId, did: vc.value.subject });
    if (!account.ok) return this.refuse(t.deviceId, account.error);
    const r = await this.d.sender.send(account.value, {
      requestId: signal.requestId,
      messageCode: t.messageCode,
      body: signal.body,
      header: {
        ...(signal.duress ? { DuressIndicator: '1' } : {}),
        ...(signal.reference
          ? {
              ReferenceIndicator: signal.reference.indicator,
              ReferencedMessage: signal.reference.message.replace(/^0x/, '').toLowerCase(),
            }
          : {}),
      },
      ...(signal.encryption ? { encryption: signal.encryption } : {}),
    });
    if (!r.ok) return this.refuse(t.deviceId, r.error);
    this.stats.sent++;
    this.log.info({ deviceId: t.deviceId, code: t.messageCode, txHash: r.value.txHash }, 'whiteflag signal sent');
    this.d.onOutcome?.(t.deviceId, { ok: true, txHash: r.value.txHash });
  }

  /** Publish an authentic sign or signal to the devices of its area (the listener's `onMessage`). */
  async deliver(row: ReceivedRow, message: WhiteflagMessage | undefined): Promise<void> {
    if (!message || row.state !== 'valid' || row.auth !== 'authenticated' || row.canonical !== 1) return;
    const code = message.MessageHeader.MessageCode;
    if (!isSignSignalCode(code)) return;
    const at = locationOf(message);
    if (!at) return;
    const areas = await this.d.store.areas().find();
    const payload = JSON.stringify({
      txHash: row.txHash,
      blockNumber: row.blockNumber,
      originator: { address: row.originator, did: row.originatorDid, deviceId: row.deviceId },
      notation: notation(message),
      message,
    });
    for (const a of areas) {
      if (a.deviceId === row.deviceId || !covers(a, at)) continue;
      await this.d.broker.publish(topics.whiteflagInbox(a.deviceId), payload);
      this.stats.delivered++;
    }
  }
}

interface Located {
  latitude: number;
  longitude: number;
  /** Metres from the location that the object may reach. */
  extentM: number;
}

/** The location of a sign or signal and how far its object reaches (§4.3.1.6, §4.3.1.7). */
export function locationOf(message: WhiteflagMessage): Located | undefined {
  const b = message.MessageBody;
  if (b['ObjectLatitude'] === NO_LATITUDE && b['ObjectLongitude'] === NO_LONGITUDE) return undefined;
  const latitude = Number(b['ObjectLatitude']);
  const longitude = Number(b['ObjectLongitude']);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return undefined;
  const d1 = Number(b['ObjectSizeDim1'] ?? 0);
  const d2 = Number(b['ObjectSizeDim2'] ?? 0);
  const circle = b['ObjectType'] === '21' || b['ObjectType'] === '31';
  return { latitude, longitude, extentM: circle ? d1 : Math.hypot(d1, d2) / 2 };
}

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance (haversine) in metres. */
export function distanceM(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }) {
  const dLat = rad(b.latitude - a.latitude);
  const dLon = rad(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Does a device's area reach the object of a signal? */
export function covers(area: Pick<AreaRow, 'latitude' | 'longitude' | 'radiusM'>, at: Located): boolean {
  return distanceM(area, at) <= area.radiusM + at.extentM;
}
