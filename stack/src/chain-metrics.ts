import type { Logger } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';
import { Counter, Gauge, type Registry } from 'prom-client';

/** Most blocks read in one step, so a long way behind (a restart on a busy chain) is caught up gradually. */
const MAX_BLOCKS_PER_STEP = 100;

/**
 * Chain figures for /metrics (monitoring): blocks, transactions and gas seen since start, the accounts
 * that sent a transaction (active users), contracts created, and the stack's own relayer's transactions. Follows
 * the chain from the block the stack started at, reading each new block once with its transactions.
 */
export class ChainMetrics {
  private next: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly senders = new Set<string>();
  private readonly m: {
    blocks: Counter;
    txs: Counter<'sender'>;
    gas: Counter;
    active: Gauge;
    contracts: Gauge;
  };
  private created = 0;
  /** The latest block number read from the chain (0 before the first step). */
  head = 0;

  constructor(
    private readonly o: {
      provider: JsonRpcProvider;
      registry: Registry;
      /** Contracts the stack knows (deployed at start). */
      knownContracts: number;
      /** The stack's relayer: its transactions are labelled `relayer`, all others `other`. */
      relayer: string;
      log: Logger;
    },
  ) {
    const registers = [o.registry];
    this.m = {
      blocks: new Counter({ name: 'tessera_chain_blocks_total', help: 'Blocks seen since start', registers }),
      txs: new Counter({
        name: 'tessera_chain_transactions_total',
        help: "Transactions in the blocks seen, by sender (the stack's relayer or other)",
        labelNames: ['sender'],
        registers,
      }),
      gas: new Counter({ name: 'tessera_chain_gas_used_total', help: 'Gas used by the blocks seen', registers }),
      active: new Gauge({
        name: 'tessera_chain_active_accounts',
        help: 'Distinct accounts that sent a transaction since start',
        registers,
      }),
      contracts: new Gauge({
        name: 'tessera_chain_contracts',
        help: 'Contracts deployed by the stack plus contracts created in the blocks seen',
        registers,
      }),
    };
    this.m.contracts.set(o.knownContracts);
  }

  /** Read the blocks that arrived since the last step (at most MAX_BLOCKS_PER_STEP). */
  async step(): Promise<number> {
    const head = await this.o.provider.getBlockNumber();
    this.head = head;
    this.next ??= head + 1;
    let read = 0;
    while (this.next <= head && read < MAX_BLOCKS_PER_STEP) {
      const block = await this.o.provider.getBlock(this.next, true);
      if (!block) break;
      this.m.blocks.inc();
      this.m.gas.inc(Number(block.gasUsed));
      for (const tx of block.prefetchedTransactions) {
        const from = tx.from.toLowerCase();
        this.senders.add(from);
        this.m.txs.inc({ sender: from === this.o.relayer.toLowerCase() ? 'relayer' : 'other' });
        if (tx.to === null) this.created += 1;
      }
      this.next += 1;
      read += 1;
    }
    this.m.active.set(this.senders.size);
    this.m.contracts.set(this.o.knownContracts + this.created);
    return read;
  }

  start(intervalMs = 2_000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.step()
        .then(() => undefined)
        .catch((e: unknown) => this.o.log.warn({ err: e }, 'reading chain metrics failed; will retry'))
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
