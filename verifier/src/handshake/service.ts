import { type DeviceChainStatus, DeviceRegistry__factory, readDeviceStatus } from '@tessera/contracts';
import {
  type BitstringStatusListEntry,
  type Logger,
  lifecycleNotice,
  silentLogger,
  type TopicPermissions,
  topics,
} from '@tessera/protocol';
import type { Resolvable } from 'did-resolver';
import type { JsonRpcProvider } from 'ethers';
import type { BrokerAdapter } from '../broker/adapter.js';
import { MemoryNonceStore, type NonceStore } from '../vc/nonce-store.js';
import type { HandshakeLimiter } from './limiter.js';
import { type HandshakeAuditEvent, HandshakeResponder } from './responder.js';
import { type DeviceStateChange, DeviceStateWatcher, dropSessionsOnRevocation } from './revocation-watcher.js';
import { DeviceStatusCache } from './status-cache.js';
import type { DeviceSecretVault } from './vault.js';

export interface DeviceHandshakeServiceOptions {
  /** A started broker adapter (aedes or Mosquitto); the service does not own its lifecycle. */
  broker: BrokerAdapter;
  provider: JsonRpcProvider;
  chainId: number;
  /** DeviceRegistry address. */
  deviceRegistry: string;
  /** WebSocket RPC for pushed registry events (recommended; without it the watcher polls and nothing is cached). */
  wsUrl?: string;
  vault: DeviceSecretVault;
  /** The event-invalidated CachedDidResolver. */
  resolver: Resolvable;
  /** Shared by replicas (RedisNonceStore); default in process. */
  challenges?: NonceStore;
  /** Shared by replicas (RedisHandshakeLimiter); default in process. */
  limiter?: HandshakeLimiter;
  /** The stack's verifier/issuer key that signs DeviceSessionCredentials. */
  issuer: { did: string; privateKey: string };
  log?: Logger;
  /** Injectable clock (unix ms) for challenge expiry and lockouts. */
  now?: () => number;
  audit?(event: HandshakeAuditEvent): void;
  permissionsFor?(device: { deviceId: string; did: string }): Promise<TopicPermissions> | TopicPermissions;
  /** The status entries of a device's session credential (see HandshakeResponderOptions.sessionStatus). */
  sessionStatus?(device: { deviceId: string; did: string }): Promise<BitstringStatusListEntry[]>;
  /** Called once a lifecycle change has been applied to the broker (sessions dropped, or device enrolled again). */
  onApplied?(change: DeviceStateChange): void;
  /** Why handshakes cannot be decided now (the chain known down), or undefined (see HandshakeResponderOptions). */
  unavailable?(): string | undefined;
}

export interface DeviceHandshakeService {
  responder: HandshakeResponder;
  watcher: DeviceStateWatcher;
  statusCache: DeviceStatusCache;
  /** Read a device's on-chain record through the cache. */
  readStatus(deviceId: string): Promise<DeviceChainStatus>;
  stop(): Promise<void>;
}

/**
 * Compose the device side of the verifier on a started broker: the DeviceRegistry watcher and the
 * event-invalidated status cache, the handshake responder (subscribed to every device's hello and response), every
 * vault device enrolled with the broker, and lifecycle changes wired to the broker (suspend/revoke/decommission drop
 * live sessions at once; resume enrols again).
 *
 * @example
 *   const broker = new AedesBrokerAdapter({ port: 1883 }); await broker.start();
 *   const hs = await startDeviceHandshakeService({ broker, provider, chainId, deviceRegistry, wsUrl, vault, resolver, issuer });
 *   …; await hs.stop(); await broker.stop();
 */
export async function startDeviceHandshakeService(o: DeviceHandshakeServiceOptions): Promise<DeviceHandshakeService> {
  const log = (o.log ?? silentLogger).child({ part: 'device-handshake' });
  const registry = DeviceRegistry__factory.connect(o.deviceRegistry, o.provider);
  const watcher = new DeviceStateWatcher({
    provider: o.provider,
    registry: o.deviceRegistry,
    ...(o.wsUrl ? { wsUrl: o.wsUrl } : {}),
    onError: (e) => log.warn({ event: 'device_watcher_error', error: (e as Error).message }),
  });
  const statusCache = new DeviceStatusCache((id) => readDeviceStatus(registry, id), watcher);
  const responder = new HandshakeResponder({
    broker: o.broker,
    readStatus: statusCache.readStatus,
    vault: o.vault,
    resolver: o.resolver,
    challenges: o.challenges ?? new MemoryNonceStore(),
    ...(o.limiter ? { limiter: o.limiter } : {}),
    issuer: o.issuer,
    chainId: o.chainId,
    log,
    ...(o.now ? { now: o.now } : {}),
    ...(o.audit ? { audit: o.audit } : {}),
    ...(o.permissionsFor ? { permissionsFor: o.permissionsFor } : {}),
    ...(o.sessionStatus ? { sessionStatus: o.sessionStatus } : {}),
    ...(o.unavailable ? { unavailable: o.unavailable } : {}),
  });
  // The change being applied (listeners run synchronously in registration order, this one first).
  let current: DeviceStateChange | undefined;
  watcher.on('change', (c: DeviceStateChange) => {
    current = c;
  });
  const applied = (c: DeviceStateChange | undefined) => c && o.onApplied?.(c);
  const unwire = dropSessionsOnRevocation(watcher, {
    revoke: async (id, opts) => {
      const c = current;
      // Tell a connected device its new state before its connection goes, so its agent waits (suspended) or stops
      // (revoked, decommissioned) instead of reconnecting into refusals. Best effort, and never holding up the drop.
      const notice = c && lifecycleNotice(c.to);
      if (notice) {
        const told = o.broker.publish(topics.handshake(id, 'result'), JSON.stringify(notice));
        await Promise.race([told, new Promise((r) => setTimeout(r, 250).unref())]).catch((e: unknown) =>
          log.warn({ event: 'lifecycle_notice_failed', deviceId: id, error: (e as Error).message }),
        );
      }
      await o.broker.revoke(id, opts);
      applied(c);
    },
    enrol: async (id) => {
      const c = current;
      await responder.enrol(id);
      applied(c);
    },
    onError: (e, c) =>
      log.error({ event: 'revocation_apply_failed', deviceId: c.deviceId, to: c.to, error: (e as Error).message }),
  });
  watcher.on('change', (c) =>
    log.info({ event: 'device_state_changed', deviceId: c.deviceId, from: c.from, to: c.to }),
  );
  await watcher.start();
  await responder.start();
  const enrolled = await responder.enrolAll();
  o.broker.devicesLoaded?.();
  log.info({ event: 'device_handshake_ready', enrolled });
  return {
    responder,
    watcher,
    statusCache,
    readStatus: statusCache.readStatus,
    stop: async () => {
      unwire();
      await watcher.stop();
    },
  };
}
