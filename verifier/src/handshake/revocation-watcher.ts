import { EventEmitter } from 'node:events';
import { ChainLogFollower, type RawLog } from '@tessera/contracts';
import { DEVICE_STATES, type DeviceState } from '@tessera/protocol';
import { id as topicOf, type JsonRpcProvider } from 'ethers';

/** DeviceRegistry's `DeviceStateChanged(bytes32 indexed deviceId, State from, State to, address indexed by)`. */
export const DEVICE_STATE_CHANGED_TOPIC = topicOf('DeviceStateChanged(bytes32,uint8,uint8,address)');
/** Every DeviceRegistry event that changes what `deviceStatus` returns; each has the device id as first indexed topic. */
export const DEVICE_RECORD_TOPICS = [
  DEVICE_STATE_CHANGED_TOPIC,
  topicOf('DeviceRegistered(bytes32,uint64,address,address,bytes32,bytes32)'),
  topicOf('DeviceCommissioned(bytes32,address,address)'),
  topicOf('FirmwareUpdated(bytes32,bytes32,bytes32,address)'),
  topicOf('DeviceOwnershipTransferred(bytes32,address,address)'),
];

export interface DeviceStateChange {
  deviceId: string;
  from: DeviceState;
  to: DeviceState;
  by: string;
  blockNumber: number;
  txHash: string;
}

export interface DeviceStateWatcherOptions {
  provider: JsonRpcProvider;
  /** DeviceRegistry address. */
  registry: string;
  /** Push: `eth_subscribe newHeads` over WebSocket (anvil, geth, Besu); without it the watcher polls eth_getLogs. */
  wsUrl?: string;
  pollIntervalMs?: number;
  onError?(error: unknown): void;
}

/**
 * Streams DeviceRegistry lifecycle changes (verifiers learn of changes from chain events, never by waiting
 * for a cache to expire), on the chain-log follower (`ChainLogFollower`: each new head pushed over WebSocket triggers
 * one `eth_getLogs` for the blocks not yet processed; after a reconnect the blocks missed meanwhile are fetched, so no
 * change is lost). Emits 'change' (DeviceStateChange) once per lifecycle change, 'record' (deviceId) for every event
 * that changes a device's record (state, commissioning, firmware, owner), and 'live' (boolean) when the push
 * subscription comes up or goes down.
 */
export class DeviceStateWatcher extends EventEmitter {
  private readonly follower: ChainLogFollower;

  /** True while the push subscription is up (every change reaches us as its block is mined). */
  get isLive(): boolean {
    return this.follower.isLive;
  }

  constructor(o: DeviceStateWatcherOptions) {
    super();
    this.follower = new ChainLogFollower({
      provider: o.provider,
      address: o.registry,
      topics: [DEVICE_RECORD_TOPICS],
      ...(o.wsUrl ? { wsUrl: o.wsUrl } : {}),
      ...(o.pollIntervalMs ? { pollIntervalMs: o.pollIntervalMs } : {}),
      ...(o.onError ? { onError: o.onError } : {}),
    });
    this.follower.on('logs', (logs) => {
      for (const log of logs) this.handle(log);
    });
    this.follower.on('live', (live) => this.emit('live', live));
  }

  start(): Promise<void> {
    return this.follower.start();
  }

  stop(): Promise<void> {
    return this.follower.stop();
  }

  private handle(log: RawLog): void {
    if (!log.topics[1]) return;
    this.emit('record', log.topics[1].toLowerCase());
    if (log.topics[0] !== DEVICE_STATE_CHANGED_TOPIC) return;
    const data = log.data.replace(/^0x/, '');
    const from = DEVICE_STATES[Number(BigInt(`0x${data.slice(0, 64)}`))];
    const to = DEVICE_STATES[Number(BigInt(`0x${data.slice(64, 128)}`))];
    if (!from || !to) return;
    this.emit('change', {
      deviceId: log.topics[1].toLowerCase(),
      from,
      to,
      by: `0x${(log.topics[2] ?? '').slice(-40)}`.toLowerCase(),
      blockNumber: Number(BigInt(log.blockNumber)),
      txHash: log.transactionHash,
    } satisfies DeviceStateChange);
  }
}

/**
 * Wire lifecycle changes to the broker: suspend, revoke and decommission drop every live session of the
 * device at once; resuming enrols it again so it can handshake.
 */
export function dropSessionsOnRevocation(
  watcher: DeviceStateWatcher,
  actions: {
    revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void>;
    enrol(deviceId: string): Promise<unknown>;
    onError?(error: unknown, change: DeviceStateChange): void;
  },
): () => void {
  const listener = (c: DeviceStateChange) => {
    let p: Promise<unknown> | undefined;
    if (c.to === 'Suspended' || c.to === 'Revoked' || c.to === 'Decommissioned')
      p = actions.revoke(c.deviceId, { permanent: c.to !== 'Suspended', reason: `on-chain ${c.from} → ${c.to}` });
    else if (c.to === 'Active') p = actions.enrol(c.deviceId);
    p?.catch((e) => actions.onError?.(e, c));
  };
  watcher.on('change', listener);
  return () => watcher.off('change', listener);
}
