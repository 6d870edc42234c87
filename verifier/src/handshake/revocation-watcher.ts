import { EventEmitter } from 'node:events';
import { CHAIN_POLL_INTERVAL_MS, DEVICE_STATES, type DeviceState } from '@tessera/protocol';
import { id as topicOf, type JsonRpcProvider } from 'ethers';
import WebSocket from 'ws';

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
  /** Push: `eth_subscribe logs` over WebSocket (anvil, geth, Besu); without it the watcher polls eth_getLogs. */
  wsUrl?: string;
  pollIntervalMs?: number;
  onError?(error: unknown): void;
}

interface RawLog {
  topics: string[];
  data: string;
  blockNumber: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
}

/**
 * Streams DeviceRegistry lifecycle changes (verifiers learn of changes from chain events, never by waiting
 * for a cache to expire). Over WebSocket the node pushes each log as its block is mined (`eth_subscribe logs`); after a
 * (re)connect the blocks missed meanwhile are fetched with `eth_getLogs`, so no change is lost. Emits 'change'
 * (DeviceStateChange) once per lifecycle change, 'record' (deviceId) for every event that changes a device's record
 * (state, commissioning, firmware, owner), and 'live' (boolean) when the push subscription comes up or goes down.
 */
export class DeviceStateWatcher extends EventEmitter {
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private lastBlock = -1;
  private readonly seen = new Set<string>();
  private retryMs = 250;
  private live = false;

  /** True while the push subscription is up (every change reaches us as its block is mined). */
  get isLive(): boolean {
    return this.live;
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.emit('live', live);
  }

  constructor(private readonly o: DeviceStateWatcherOptions) {
    super();
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.lastBlock = await this.o.provider.getBlockNumber();
    if (this.o.wsUrl) await this.connect();
    else this.schedulePoll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.setLive(false);
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      });
    }
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.o.wsUrl!);
      this.ws = ws;
      ws.on('open', () => {
        this.retryMs = 250;
        ws.send(
          JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'eth_subscribe',
            params: ['logs', { address: this.o.registry, topics: [DEVICE_RECORD_TOPICS] }],
          }),
        );
      });
      ws.on('message', (data) => {
        let msg: { id?: number; method?: string; params?: { result?: RawLog } };
        try {
          msg = JSON.parse(String(data));
        } catch {
          return;
        }
        if (msg.id === 1) {
          // Live only after the blocks missed while (re)connecting are applied.
          void this.catchUp().then(() => {
            if (this.ws === ws) this.setLive(true);
            resolve();
          });
          return;
        }
        const log = msg.method === 'eth_subscription' ? msg.params?.result : undefined;
        if (log && !log.removed) this.handle(log);
      });
      ws.on('error', (e) => this.o.onError?.(e));
      ws.on('close', () => {
        this.setLive(false);
        resolve();
        if (this.stopped) return;
        setTimeout(() => !this.stopped && void this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      });
    });
  }

  private async catchUp(): Promise<void> {
    try {
      const head = await this.o.provider.getBlockNumber();
      if (head <= this.lastBlock) return;
      const logs = (await this.o.provider.send('eth_getLogs', [
        {
          address: this.o.registry,
          topics: [DEVICE_RECORD_TOPICS],
          fromBlock: `0x${(this.lastBlock + 1).toString(16)}`,
          toBlock: `0x${head.toString(16)}`,
        },
      ])) as RawLog[];
      for (const log of logs) this.handle(log);
      this.lastBlock = Math.max(this.lastBlock, head);
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => void this.catchUp().finally(() => this.schedulePoll()),
      this.o.pollIntervalMs ?? CHAIN_POLL_INTERVAL_MS,
    );
  }

  private handle(log: RawLog): void {
    const key = `${log.transactionHash}:${log.logIndex}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > 10_000) this.seen.delete(this.seen.values().next().value as string);
    const blockNumber = Number(BigInt(log.blockNumber));
    if (blockNumber > this.lastBlock && this.ws === undefined) this.lastBlock = blockNumber;
    if (!log.topics[1]) return;
    this.emit('record', log.topics[1].toLowerCase());
    if (log.topics[0] !== DEVICE_STATE_CHANGED_TOPIC) return;
    const data = log.data.replace(/^0x/, '');
    const from = DEVICE_STATES[Number(BigInt(`0x${data.slice(0, 64)}`))];
    const to = DEVICE_STATES[Number(BigInt(`0x${data.slice(64, 128)}`))];
    if (!from || !to || !log.topics[1]) return;
    this.emit('change', {
      deviceId: log.topics[1].toLowerCase(),
      from,
      to,
      by: `0x${(log.topics[2] ?? '').slice(-40)}`.toLowerCase(),
      blockNumber,
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
