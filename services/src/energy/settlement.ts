import { EnergyCredit__factory, type Outbox, type OutboxRow, type OutboxWrite } from '@tessera/contracts';
import { err, ethrAddress, ok, type Result } from '@tessera/protocol';
import { getAddress } from 'ethers';
import type { ClosedPeriod } from './market/book.js';
import { GRID_ACCOUNT, type PeriodSettlement } from './market/billing.js';

/** The on-chain account of a did:ethr participant (its address, or the address of its public-key identifier). */
export const ethrAccount = ethrAddress;

export interface EnergySettlementOptions {
  outbox: Outbox;
  /** Address of the deployed EnergyCredit contract; the outbox account must hold its OPERATOR role. */
  creditAddress: string;
  /** The grid supplier's account (pays feed-in, receives retail). */
  gridAccount: string;
  /** Maps a participant to its account; defaults to `ethrAccount` (did:ethr participants). */
  accountOf?: (participant: string) => string | undefined;
}

const iface = EnergyCredit__factory.createInterface();

/**
 * Settles closed trading periods on chain through the outbox: one `EnergyCredit.settle` write per period, keyed by the
 * contract and period id, so a period can be enqueued any number of times (retries, restarts) and is sent once.
 * The write carries the order-book and allocation digests and one net credit movement per account (zero movements are
 * left out; the grid's movement balances the rest).
 */
export class EnergySettlement {
  private readonly accountOf: (participant: string) => string | undefined;

  constructor(private readonly options: EnergySettlementOptions) {
    this.accountOf = options.accountOf ?? ethrAccount;
  }

  /** The outbox key of a period's settlement. */
  key(periodId: number): string {
    return `energy-settle:${this.options.creditAddress.toLowerCase()}:${periodId}`;
  }

  /** Encode a period's settlement as an outbox write; refuses participants without an account. */
  encode(closed: ClosedPeriod, settlement: PeriodSettlement): Result<OutboxWrite> {
    if (closed.periodId !== settlement.periodId)
      return err(
        'ERR_MARKET_PERIOD_MISMATCH',
        `settlement of period ${settlement.periodId} for book ${closed.periodId}`,
      );
    const deltas = new Map<string, bigint>();
    const unknown: string[] = [];
    for (const t of settlement.transfers) {
      const account = t.account === GRID_ACCOUNT ? getAddress(this.options.gridAccount) : this.accountOf(t.account);
      if (account === undefined) {
        unknown.push(t.account);
        continue;
      }
      deltas.set(account, (deltas.get(account) ?? 0n) + t.delta);
    }
    if (unknown.length > 0)
      return err('ERR_MARKET_ACCOUNT_UNKNOWN', `${unknown.length} participant(s) have no account`, {
        participants: unknown.slice(0, 20),
      });
    const moving = [...deltas].filter(([, d]) => d !== 0n);
    return ok({
      kind: 'energy-settle',
      to: this.options.creditAddress,
      data: iface.encodeFunctionData('settle', [
        closed.periodId,
        closed.bookHash,
        closed.allocationHash,
        closed.clearing.volumeWh,
        moving.map(([a]) => a),
        moving.map(([, d]) => d),
      ]),
    });
  }

  /** The settlement's outbox row as it is now (pending, sent, mined or failed), or null if never enqueued. */
  current(periodId: number): Promise<OutboxRow | null> {
    return this.options.outbox.get(this.key(periodId));
  }

  /** Record the period's settlement in the outbox (idempotent per period); the outbox sends it. */
  async enqueue(closed: ClosedPeriod, settlement: PeriodSettlement): Promise<Result<OutboxRow>> {
    const write = this.encode(closed, settlement);
    if (!write.ok) return write;
    return ok(await this.options.outbox.enqueue(this.key(closed.periodId), write.value));
  }
}
