import { EventEmitter } from 'node:events';
import { ChainLogFollower } from '@tessera/contracts';
import { id as topicOf, type JsonRpcProvider } from 'ethers';

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
 * changed, on the chain-log follower (`ChainLogFollower`: a new head triggers one `eth_getLogs` for the blocks not
 * yet processed), so `waitForBlock(n)` guarantees that every change mined in block n has been emitted and a dropped
 * subscription is caught up on reconnect. Events: 'change' (IdentityChange), 'block' (number).
 */
export class RegistryWatcher extends EventEmitter {
  private readonly follower: ChainLogFollower;

  constructor(options: RegistryWatcherOptions) {
    super();
    this.follower = new ChainLogFollower({
      provider: options.provider,
      address: options.registry,
      topics: [REGISTRY_EVENT_TOPICS],
      ...(options.wsUrl ? { wsUrl: options.wsUrl } : {}),
      ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    this.follower.on('logs', (logs) => {
      for (const log of logs) {
        const topic = log.topics?.[1];
        if (!topic) continue;
        this.emit('change', {
          identity: `0x${topic.slice(-40)}`.toLowerCase(),
          blockNumber: Number(BigInt(log.blockNumber)),
          txHash: log.transactionHash,
        } satisfies IdentityChange);
      }
    });
    this.follower.on('block', (n) => this.emit('block', n));
  }

  /** Highest block whose registry logs have all been emitted. */
  get processedBlock(): number {
    return this.follower.processedBlock;
  }

  /** Start from the current head; resolves once the push subscription (or polling) is live. */
  start(): Promise<void> {
    return this.follower.start();
  }

  /**
   * Resolves once every registry change up to block `n` has been emitted. Callers that know the block of a
   * change (from its receipt) use this to read their own writes without waiting for the push.
   */
  waitForBlock(n: number): Promise<void> {
    return this.follower.waitForBlock(n);
  }

  stop(): Promise<void> {
    return this.follower.stop();
  }
}
