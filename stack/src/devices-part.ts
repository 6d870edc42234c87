import type { Logger } from '@tessera/protocol';
import {
  AedesBrokerAdapter,
  type DeviceHandshakeService,
  type DeviceSecretVault,
  type HandshakeLimiter,
  type NonceStore,
  startDeviceHandshakeService,
} from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import type { JsonRpcProvider } from 'ethers';
import { portError } from './ports.js';

/** The stack's device side (DESIGN §5, §6): the embedded aedes broker and the handshake verifier on it. */
export interface DevicesPart {
  /** Where devices connect (mqtt://host:port, the bound port). */
  mqttUrl: string;
  /** The broker: services subscribe to device telemetry on it; `isConnected` tells whether a device is online. */
  broker: AedesBrokerAdapter;
  /** The handshake verifier (null until `attach`; the vault comes from the issuer, which starts later). */
  handshake: DeviceHandshakeService | null;
  stop(): Promise<void>;
}

/**
 * Start the embedded broker on TESSERA_MQTT_PORT. It listens before the issuer starts, so that the issuer can write
 * the broker URL into provisioning files; `attachHandshake` starts the verifier once the vault exists.
 */
export async function startBroker(o: { host: string; port: number; log: Logger }): Promise<DevicesPart> {
  // Devices reconnecting while the handshake verifier re-enrols them after a restart wait instead of being refused.
  const broker = new AedesBrokerAdapter({ host: o.host, port: o.port, log: o.log, holdUnknownUntilLoadedMs: 30_000 });
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
  /** The stack's verifier identity: it signs DeviceSessionCredentials. */
  verifier: { did: string; privateKey: string };
  /** Shared by replicas (TESSERA_REDIS_URL): challenges stay single-use and lockouts hold across them. */
  challenges?: NonceStore;
  limiter?: HandshakeLimiter;
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
    issuer: w.verifier,
    ...(w.challenges ? { challenges: w.challenges } : {}),
    ...(w.limiter ? { limiter: w.limiter } : {}),
    log: w.log,
  });
  return part.handshake;
}
