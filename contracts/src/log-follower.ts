import { EventEmitter } from 'node:events';
import { CHAIN_POLL_INTERVAL_MS } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';
import WebSocket from 'ws';

/** A log as the node returns it (eth_getLogs). */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  transactionHash: string;
  logIndex: string;
}

/** After a failed `eth_getLogs`, the next attempt (without waiting for another head). */
const FAILED_READ_RETRY_MS = 500;

export interface LogFollowerOptions {
  /** Used for `eth_getLogs` (and for polling when there is no WebSocket). */
  provider: JsonRpcProvider;
  /** The contract(s) whose logs to follow. */
  address: string | string[];
  /** Topic filter in `eth_getLogs` form: `[[topic0 alternatives], topic1, …]`. */
  topics: (string | string[] | null)[];
  /** Push: `eth_subscribe newHeads` over WebSocket (anvil, geth, Besu); without it the follower polls. */
  wsUrl?: string;
  pollIntervalMs?: number;
  onError?(error: unknown): void;
}

/**
 * The one chain-log follower: a new head (pushed over WebSocket, or polled) triggers one `eth_getLogs` for the blocks
 * not yet processed, and their logs are emitted in chain order; only after a range is emitted does it count as
 * processed, so `waitForBlock(n)` guarantees that every matching log mined in block n has been seen. A dropped
 * subscription is caught up from the last processed block on reconnect, so nothing is missed.
 * Events: 'logs' (RawLog[], one call per processed range, possibly empty is not emitted), 'block' (number),
 * 'live' (boolean: the push subscription came up or went down).
 */
export class ChainLogFollower extends EventEmitter<{ logs: [RawLog[]]; block: [number]; live: [boolean] }> {
  private ws: WebSocket | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private lastBlock = -1;
  private targetBlock = -1;
  private retryMs = 250;
  private live = false;
  private processing: Promise<void> = Promise.resolve();

  constructor(private readonly o: LogFollowerOptions) {
    super();
  }

  /** Highest block whose matching logs have all been emitted. */
  get processedBlock(): number {
    return this.lastBlock;
  }

  /** True while the push subscription is up (every change reaches us as its block is mined). */
  get isLive(): boolean {
    return this.live;
  }

  /** Start from the current head; resolves once the push subscription (or polling) is live. */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastBlock = await this.o.provider.getBlockNumber();
    this.targetBlock = this.lastBlock;
    if (this.o.wsUrl) await this.connect();
    else this.schedulePoll();
  }

  /**
   * Resolves once every matching log up to block `n` has been emitted. Callers that know the block of a change (from
   * its receipt) use this to read their own writes without waiting for the push.
   */
  async waitForBlock(n: number): Promise<void> {
    if (this.lastBlock >= n) return;
    await this.catchUp(n);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.setLive(false);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      });
    }
    await this.processing;
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.emit('live', live);
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.o.wsUrl!);
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
          // Live only after the blocks mined while (re)connecting are applied.
          void this.catchUp().then(() => {
            if (this.ws === ws) this.setLive(true);
            resolve();
          });
          return;
        }
        const n = msg.method === 'eth_subscription' ? msg.params?.result?.number : undefined;
        if (n) void this.catchUp(Number(BigInt(n)));
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

  /** Emit matching logs up to `head` (or the chain's head), one range at a time, in order. */
  private catchUp(head?: number): Promise<void> {
    if (head !== undefined && head > this.targetBlock) this.targetBlock = head;
    this.processing = this.processing.then(async () => {
      if (this.stopped) return;
      try {
        const to = head === undefined ? await this.o.provider.getBlockNumber() : this.targetBlock;
        if (to <= this.lastBlock) return;
        const logs = (await this.o.provider.send('eth_getLogs', [
          {
            address: this.o.address,
            topics: this.o.topics,
            fromBlock: `0x${(this.lastBlock + 1).toString(16)}`,
            toBlock: `0x${to.toString(16)}`,
          },
        ])) as RawLog[];
        if (logs.length > 0) this.emit('logs', logs);
        this.lastBlock = to;
        this.emit('block', to);
      } catch (e) {
        this.o.onError?.(e);
        // The range stays unprocessed. On a push subscription the next try would come with the next head, and a
        // chain that mines on demand (anvil) may not mine another block for a long time: a revocation in that
        // block would wait with it. Try again soon instead.
        if (!this.stopped && !this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            void this.catchUp(this.targetBlock);
          }, FAILED_READ_RETRY_MS);
          this.retryTimer.unref();
        }
      }
    });
    return this.processing;
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      void this.catchUp().finally(() => this.schedulePoll());
    }, this.o.pollIntervalMs ?? CHAIN_POLL_INTERVAL_MS);
  }
}
