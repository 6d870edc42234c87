import { EventEmitter } from 'node:events';
import { CHAIN_POLL_INTERVAL_MS } from '@tessera/protocol';
import { id as topicOf, type JsonRpcProvider } from 'ethers';
import WebSocket from 'ws';

/** ERC-1056 events; every one of them carries the identity as its first indexed topic. */
export const REGISTRY_EVENT_TOPICS = [
  topicOf('DIDOwnerChanged(address,address,uint256)'),
  topicOf('DIDDelegateChanged(address,bytes32,address,uint256,uint256)'),
  topicOf('DIDAttributeChanged(address,bytes32,bytes,uint256,uint256)'),
];

export interface IdentityChange {
  identity: string;
  blockNumber: number;
  txHash: string;
}

export interface RegistryWatcherOptions {
  registry: string;
  /** Push: `eth_subscribe` over WebSocket (anvil, geth, Besu). */
  wsUrl?: string;
  /** Pull fallback: `eth_getLogs` on this provider every `pollIntervalMs`. */
  provider?: JsonRpcProvider;
  pollIntervalMs?: number;
  onError?(error: unknown): void;
}

/**
 * Watches the ERC-1056 registry and emits `change` for every identity whose owner, delegates or attributes
 * changed, and `reset` when events may have been missed (a dropped subscription): the cache then forgets all.
 * Events: 'change' (IdentityChange), 'block' (number), 'reset'.
 */
export class RegistryWatcher extends EventEmitter {
  private ws: WebSocket | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastBlock = -1;
  private retryMs = 250;
  private nextId = 1;
  private readyResolve: (() => void) | undefined;
  /** Highest block whose logs have been seen. */
  get processedBlock(): number {
    return this.lastBlock;
  }

  constructor(private readonly options: RegistryWatcherOptions) {
    super();
  }

  /** Resolves once the subscription (or the first poll) is live. */
  start(): Promise<void> {
    this.stopped = false;
    const ready = new Promise<void>((resolve) => {
      this.readyResolve = resolve;
    });
    if (this.options.wsUrl) this.connect();
    else if (this.options.provider) void this.poll();
    else throw new Error('RegistryWatcher needs a wsUrl or a provider');
    return ready;
  }

  private markReady() {
    this.readyResolve?.();
    this.readyResolve = undefined;
  }

  private connect() {
    const ws = new WebSocket(this.options.wsUrl!);
    this.ws = ws;
    const pending = new Map<number, string>();
    const subs = new Map<string, 'logs' | 'heads'>();
    const send = (method: string, params: unknown[], kind: string) => {
      const id = this.nextId++;
      pending.set(id, kind);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    };
    ws.on('open', () => {
      this.retryMs = 250;
      send('eth_subscribe', ['logs', { address: this.options.registry, topics: [REGISTRY_EVENT_TOPICS] }], 'logs');
      send('eth_subscribe', ['newHeads'], 'heads');
    });
    ws.on('message', (data) => {
      let msg: { id?: number; result?: unknown; method?: string; params?: { subscription: string; result: any } };
      try {
        msg = JSON.parse(String(data));
      } catch {
        return;
      }
      if (msg.id !== undefined) {
        const kind = pending.get(msg.id);
        pending.delete(msg.id);
        if (typeof msg.result === 'string') subs.set(msg.result, kind as 'logs' | 'heads');
        if (subs.size === 2) this.markReady();
        return;
      }
      if (msg.method !== 'eth_subscription' || !msg.params) return;
      const kind = subs.get(msg.params.subscription);
      const r = msg.params.result;
      if (kind === 'logs') this.handleLog(r);
      else if (kind === 'heads') {
        const n = Number(BigInt(r.number));
        if (n > this.lastBlock) this.lastBlock = n;
        this.emit('block', n);
      }
    });
    ws.on('error', (e) => this.options.onError?.(e));
    ws.on('close', () => {
      if (this.stopped) return;
      // Events may have been missed while disconnected: everybody must forget what they cached.
      this.emit('reset');
      setTimeout(() => !this.stopped && this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    });
  }

  private handleLog(log: { topics: string[]; blockNumber: string; transactionHash: string; removed?: boolean }) {
    const topic = log.topics?.[1];
    if (!topic) return;
    const blockNumber = Number(BigInt(log.blockNumber));
    const change: IdentityChange = {
      identity: `0x${topic.slice(-40)}`.toLowerCase(),
      blockNumber,
      txHash: log.transactionHash,
    };
    this.emit('change', change);
  }

  private async poll() {
    const provider = this.options.provider!;
    try {
      const head = await provider.getBlockNumber();
      if (this.lastBlock < 0) this.lastBlock = head;
      else if (head > this.lastBlock) {
        const logs = await provider.send('eth_getLogs', [
          {
            address: this.options.registry,
            topics: [REGISTRY_EVENT_TOPICS],
            fromBlock: `0x${(this.lastBlock + 1).toString(16)}`,
            toBlock: `0x${head.toString(16)}`,
          },
        ]);
        for (const log of logs) this.handleLog(log);
        this.lastBlock = head;
        this.emit('block', head);
      }
      this.markReady();
    } catch (e) {
      this.options.onError?.(e);
    }
    if (!this.stopped)
      this.pollTimer = setTimeout(() => void this.poll(), this.options.pollIntervalMs ?? CHAIN_POLL_INTERVAL_MS);
  }

  /** Resolves once block `n` (or a later one) has been seen by the watcher. */
  waitForBlock(n: number, timeoutMs = 5000): Promise<void> {
    if (this.lastBlock >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('block', onBlock);
        reject(new Error(`block ${n} not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      const onBlock = (b: number) => {
        if (b >= n) {
          clearTimeout(t);
          this.off('block', onBlock);
          resolve();
        }
      };
      this.on('block', onBlock);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      });
    }
  }
}
