import {
  type BitstringStatusListEntry,
  deviceTopicPermissions,
  type Logger,
  type Result,
  TesseraError,
  type TopicPermissions,
} from '@tessera/protocol';
import type { Issuer } from '@tessera/issuer';
import {
  AedesBrokerAdapter,
  type BrokerAdapter,
  type DeviceBrokerCredentials,
  type DeviceHandshakeService,
  MosquittoBrokerAdapter,
  type DeviceSecretVault,
  type HandshakeAuditEvent,
  type HandshakeLimiter,
  type NonceStore,
  startDeviceHandshakeService,
  type Verifier,
} from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import type { JsonRpcProvider } from 'ethers';
import { portError } from './ports.js';

/** A broker as the stack uses it: the adapter, and whether a device is online. */
export type StackBroker = BrokerAdapter & { isConnected(deviceId: string): boolean; readonly connectedClients: number };

/**
 * An external Mosquitto (dynamic security) shared by the replicas: a device is online here when this replica's
 * adapter follows a connection of it (from the broker's connection notices).
 */
class SharedMosquitto extends MosquittoBrokerAdapter implements StackBroker {
  /** Disabled or deleted in dynsec: Mosquitto has dropped them and refuses their CONNECT until enrolled again. */
  private readonly shut = new Set<string>();

  override async enrol(credentials: DeviceBrokerCredentials): Promise<void> {
    await super.enrol(credentials);
    this.shut.delete(credentials.deviceId);
  }

  override async revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void> {
    await super.revoke(deviceId, options);
    this.shut.add(deviceId);
  }

  isConnected(deviceId: string): boolean {
    return !this.shut.has(deviceId) && this.connectionOf(deviceId) !== undefined;
  }
  /** Not counted for an external broker (its own $SYS topics have it). */
  get connectedClients(): number {
    return 0;
  }
}

/** The stack's device side: the broker (embedded aedes, or an external Mosquitto) and the handshake verifier on it. */
export interface DevicesPart {
  /** Where devices connect (mqtt://host:port, the bound port). */
  mqttUrl: string;
  /** The broker: services subscribe to device telemetry on it; `isConnected` tells whether a device is online. */
  broker: StackBroker;
  /** The handshake verifier (null until `attach`; the vault comes from the issuer, which starts later). */
  handshake: DeviceHandshakeService | null;
  stop(): Promise<void>;
}

/**
 * Start the embedded broker on TESSERA_MQTT_PORT. It listens before the issuer starts, so that the issuer can write
 * the broker URL into provisioning files; `attachHandshake` starts the verifier once the vault exists.
 */
export async function startBroker(o: {
  host: string;
  port: number;
  /** An external Mosquitto with dynamic security: used instead of starting the embedded broker. */
  external?: { url: string; admin: { username: string; password: string } };
  log: Logger;
  /** How long a CONNECT of a device not enrolled yet waits for the verifier to load its devices (default 30 s). */
  holdUnknownMs?: number;
  /** Work on the broker before it listens (for example enrolling known devices). */
  beforeListen?(broker: AedesBrokerAdapter): Promise<void>;
}): Promise<DevicesPart> {
  if (o.external) {
    // one shared-subscription group for every replica: each hello, response and reading is handled by one of them
    const shared = new SharedMosquitto({
      url: o.external.url,
      admin: o.external.admin,
      shareGroup: 'tessera-replicas',
      log: o.log,
    });
    try {
      await shared.start();
    } catch (cause) {
      await shared.stop().catch(() => undefined);
      throw cause instanceof TesseraError
        ? cause
        : new TesseraError('ERR_UNAVAILABLE', `the Mosquitto at TESSERA_MQTT_URL does not answer`, { cause });
    }
    const external: DevicesPart = {
      mqttUrl: o.external.url,
      broker: shared,
      handshake: null,
      async stop() {
        await external.handshake?.stop();
        external.handshake = null;
        await shared.stop();
      },
    };
    return external;
  }
  // Devices reconnecting while the handshake verifier re-enrols them after a restart wait instead of being refused.
  const broker = new AedesBrokerAdapter({
    host: o.host,
    port: o.port,
    log: o.log,
    holdUnknownUntilLoadedMs: o.holdUnknownMs ?? 30_000,
  });
  await o.beforeListen?.(broker);
  try {
    await broker.start();
  } catch (e) {
    await broker.stop().catch(() => undefined);
    throw portError(o.host, o.port, 'TESSERA_MQTT_PORT', e as NodeJS.ErrnoException);
  }
  const part: DevicesPart = {
    mqttUrl: broker.url,
    broker,
    handshake: null,
    async stop() {
      await part.handshake?.stop();
      part.handshake = null;
      await broker.stop();
    },
  };
  return part;
}

export interface HandshakeWiring {
  provider: JsonRpcProvider;
  chainId: number;
  deviceRegistry: string;
  wsUrl?: string;
  /** The issuer's DB-backed vault (the secrets sealed at registration). */
  vault: DeviceSecretVault;
  resolver: Resolvable;
  /** Who signs DeviceSessionCredentials: the stack's issuer (its status lists carry the device's state). */
  signer: { did: string; privateKey: string };
  /** The status entries of a device's session credentials (the issuer's device lifecycle); none without it. */
  sessionStatus?(deviceId: string): Promise<Result<BitstringStatusListEntry[]>>;
  /** The topics a device may use once authenticated: its own, and what its credentials open by policy. */
  permissionsFor?(device: { deviceId: string; did: string }): Promise<TopicPermissions>;
  /** Called when the verifier has applied a lifecycle change to the broker. */
  onApplied?(change: { deviceId: string; to: string }): void;
  /** Shared by replicas (TESSERA_REDIS_URL): challenges stay single-use and lockouts hold across them. */
  challenges?: NonceStore;
  limiter?: HandshakeLimiter;
  /** Every handshake outcome (challenged, granted, denied with its code): the stack counts them for /metrics. */
  audit?(event: HandshakeAuditEvent): void;
  /** Why handshakes cannot be decided now (the chain known down): devices get ERR_HANDSHAKE_UNAVAILABLE and retry. */
  unavailable?(): string | undefined;
  log: Logger;
}

/** Start the handshake verifier on the part's broker; lifecycle changes on chain drop or re-admit sessions. */
export async function attachHandshake(part: DevicesPart, w: HandshakeWiring): Promise<DeviceHandshakeService> {
  part.handshake = await startDeviceHandshakeService({
    broker: part.broker,
    provider: w.provider,
    chainId: w.chainId,
    deviceRegistry: w.deviceRegistry,
    ...(w.wsUrl ? { wsUrl: w.wsUrl } : {}),
    vault: w.vault,
    resolver: w.resolver,
    issuer: w.signer,
    ...(w.sessionStatus
      ? {
          sessionStatus: async (d: { deviceId: string }) => {
            const r = await w.sessionStatus!(d.deviceId);
            if (!r.ok) throw new TesseraError(r.error.code, r.error.message);
            return r.value;
          },
        }
      : {}),
    ...(w.permissionsFor ? { permissionsFor: w.permissionsFor } : {}),
    ...(w.onApplied ? { onApplied: w.onApplied } : {}),
    ...(w.challenges ? { challenges: w.challenges } : {}),
    ...(w.limiter ? { limiter: w.limiter } : {}),
    ...(w.audit ? { audit: w.audit } : {}),
    ...(w.unavailable ? { unavailable: w.unavailable } : {}),
    log: w.log,
  });
  return part.handshake;
}

/**
 * The topics a device may use once authenticated (one policy model for routes and topics): its own topics, plus what
 * the active credentials issued to its DID open by policy. Looked up once per device and kept until the issuer
 * issues or changes a credential (devices without credentials of their own share the one answer: their own topics).
 */
export function devicePermissions(
  issuer: Pick<Issuer, 'list' | 'events'>,
  core: Pick<Verifier, 'topicGrants'>,
  /** Changes made at other replicas (status fan-out), which clear the answers too. */
  remote?: { onRemote(fn: () => void): void },
): (device: { deviceId: string; did: string }) => Promise<TopicPermissions> {
  const extra = new Map<string, TopicPermissions | null>();
  const clear = () => extra.clear();
  issuer.events.on('issued', clear);
  issuer.events.on('status', clear);
  remote?.onRemote(clear);
  return async (device) => {
    const own = deviceTopicPermissions(device.deviceId);
    let grants = extra.get(device.did);
    if (grants === undefined) {
      const page = await issuer.list({ subject: device.did, status: 'active', limit: 100 });
      const credentials = page.ok
        ? page.value.items.map((c) => ({
            types: [c.type],
            issuer: c.issuer,
            claims: c.claims,
            expiresAt: Math.floor(Date.parse(c.expiresAt) / 1000),
          }))
        : [];
      const g = core.topicGrants(device, credentials);
      grants = g.publish.length + g.subscribe.length > 0 ? g : null;
      extra.set(device.did, grants);
    }
    if (!grants) return own;
    return {
      publish: [...own.publish, ...grants.publish.filter((t) => !own.publish.includes(t))],
      subscribe: [...own.subscribe, ...grants.subscribe.filter((t) => !own.subscribe.includes(t))],
    };
  };
}
