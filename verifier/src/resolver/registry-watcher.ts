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
  /** Used for `eth_getLogs` (and for polling when there is no WebSocket). */
  provider: JsonRpcProvider;
  /** Push: `eth_subscribe newHeads` over WebSocket (anvil, geth, Besu); without it the watcher polls. */
  wsUrl?: string;
  pollIntervalMs?: number;
  onError?(error: unknown): void;
}

/**
 * Watches the ERC-1056 registry and emits `change` for every identity whose owner, delegates or attributes
 * changed. A new head (pushed over WebSocket, or polled) triggers one `eth_getLogs` for the blocks not yet
 * processed; only after a block's logs are applied does it count as processed, so `waitForBlock(n)` guarantees
 * that every change mined in block n has been emitted. A dropped subscription is caught up from the last
 * processed block on reconnect, so nothing is missed. Events: 'change' (IdentityChange), 'block' (number).
 */
export class RegistryWatcher extends EventEmitter {
  private ws: WebSocket | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastBlock = -1;
  private targetBlock = -1;
  private retryMs = 250;
  private processing: Promise<void> = Promise.resolve();

  /** Highest block whose registry logs have all been emitted. */
  get processedBlock(): number {
    return this.lastBlock;
  }

  constructor(private readonly options: RegistryWatcherOptions) {
    super();
  }

  /** Start from the current head; resolves once the push subscription (or polling) is live. */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastBlock = await this.options.provider.getBlockNumber();
    this.targetBlock = this.lastBlock;
    if (this.options.wsUrl) await this.connect();
    else this.schedulePoll();
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.options.wsUrl!);
      this.ws = ws;
      ws.on('open', () => {
        this.retryMs = 250;
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }));
      });
      ws.on('message', (data) => {
        let msg: { id?: number; method?: string; params?: { result?: { number?: string } } };
        try {
          msg = JSON.parse(String(data));
        } catch {
          return;
        }
        if (msg.id === 1) {
          resolve();
          this.catchUp(); // blocks mined while we were (re)connecting
          return;
        }
        const n = msg.method === 'eth_subscription' ? msg.params?.result?.number : undefined;
        if (n) this.catchUp(Number(BigInt(n)));
      });
      ws.on('error', (e) => this.options.onError?.(e));
      ws.on('close', () => {
        resolve();
        if (this.stopped) return;
        setTimeout(() => !this.stopped && void this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      });
    });
  }

  /** Apply registry logs up to `head` (or the chain's head), one range at a time, in order. */
  private catchUp(head?: number): Promise<void> {
    if (head !== undefined && head > this.targetBlock) this.targetBlock = head;
    this.processing = this.processing.then(async () => {
      if (this.stopped) return;
      try {
        const to = head === undefined ? await this.options.provider.getBlockNumber() : this.targetBlock;
        if (to <= this.lastBlock) return;
        const logs = (await this.options.provider.send('eth_getLogs', [
          {
            address: this.options.registry,
            topics: [REGISTRY_EVENT_TOPICS],
            fromBlock: `0x${(this.lastBlock + 1).toString(16)}`,
            toBlock: `0x${to.toString(16)}`,
          },
        ])) as { topics: string[]; blockNumber: string; transactionHash: string }[];
        for (const log of logs) this.handleLog(log);
        this.lastBlock = to;
        this.emit('block', to);
      } catch (e) {
        this.options.onError?.(e);
      }
    });
    return this.processing;
  }

  private handleLog(log: { topics: string[]; blockNumber: string; transactionHash: string }) {
    const topic = log.topics?.[1];
    if (!topic) return;
    this.emit('change', {
      identity: `0x${topic.slice(-40)}`.toLowerCase(),
      blockNumber: Number(BigInt(log.blockNumber)),
      txHash: log.transactionHash,
    } satisfies IdentityChange);
  }

  private schedulePoll() {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      void this.catchUp().finally(() => this.schedulePoll());
    }, this.options.pollIntervalMs ?? CHAIN_POLL_INTERVAL_MS);
  }

  /**
   * Resolves once every registry change up to block `n` has been emitted. Callers that know the block of a
   * change (from its receipt) use this to read their own writes without waiting for the push.
   */
  async waitForBlock(n: number): Promise<void> {
    if (this.lastBlock >= n) return;
    await this.catchUp(n);
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
