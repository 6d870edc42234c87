import { createHash } from 'node:crypto';
import { EligibilityRegistry__factory, type Outbox, SecurityToken__factory } from '@tessera/contracts';
import { err, ok, type Result } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';
import { type CouponDate, couponAmount, couponSchedule, redemptionAmount } from './coupons.js';
import type { Holding } from './service.js';
import type { OfferingRow, OfferingStore, PaymentRow } from './store.js';
import type { OfferingTerms } from './terms.js';

export interface CouponRecord {
  coupon: CouponDate;
  blockNumber: number;
  payments: PaymentRow[];
}

export interface RedemptionReport {
  blockNumber: number;
  payments: PaymentRow[];
  burn: { burned: number; pending: number; failed: { wallet: string; error: string }[] };
}

export interface OfferingPaymentsOptions {
  store: OfferingStore;
  /** Its account is the tokens' agent: pauses and burns at redemption. */
  outbox: Outbox;
  provider: JsonRpcProvider;
  registryAddress: string;
  /** Holders of record at a block (`OfferingService.holdings`). */
  holdings(offeringId: string, atBlock: number): Promise<Result<Holding[]>>;
  now?: () => Date;
}

const tokenIface = SecurityToken__factory.createInterface();
const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const isUniqueViolation = (e: unknown) => /unique|duplicate key/i.test(String((e as Error)?.message ?? e));

/** The number of the last block mined at or before `unixSeconds` (binary search over block timestamps). */
export async function blockAt(provider: JsonRpcProvider, unixSeconds: number): Promise<number> {
  const latest = await provider.getBlock('latest');
  if (!latest) throw new Error('no latest block');
  if (latest.timestamp <= unixSeconds) return latest.number;
  let lo = 0;
  let hi = latest.number;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const b = await provider.getBlock(mid);
    if (b && b.timestamp <= unixSeconds) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Coupons and redemption of an allocated offering ("coupons paid to eligible holders of record,
 * redemption at maturity"). Payments themselves are made off chain in the offering's currency; this keeps what each
 * holder of record is owed, taken from the token's balances at a block, and burns the units at redemption.
 */
export class OfferingPayments {
  private readonly now: () => Date;

  constructor(private readonly o: OfferingPaymentsOptions) {
    this.now = o.now ?? (() => new Date());
  }

  private async allocated(offeringId: string): Promise<Result<OfferingRow & { parsed: OfferingTerms }>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId.slice(0, 64)}`);
    if ((row.status !== 'allocated' && row.status !== 'redeemed') || !row.tokenAddress) {
      return err('ERR_OFFERING_STATE', `offering ${offeringId} has no allocated token yet`);
    }
    return ok({ ...row, parsed: JSON.parse(row.terms) as OfferingTerms });
  }

  /** The coupon schedule of an offering (empty when its terms have no coupon). */
  async schedule(offeringId: string): Promise<Result<CouponDate[]>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId.slice(0, 64)}`);
    return ok(couponSchedule(JSON.parse(row.terms) as OfferingTerms));
  }

  /** The records of coupon `n` (empty until recorded). */
  async couponPayments(offeringId: string, n: number): Promise<PaymentRow[]> {
    return this.o.store.payments().find({ where: { offeringId, kind: 'coupon', coupon: n }, order: { wallet: 'ASC' } });
  }

  async redemptionPayments(offeringId: string): Promise<PaymentRow[]> {
    return this.o.store.payments().find({ where: { offeringId, kind: 'redemption' }, order: { wallet: 'ASC' } });
  }

  /**
   * Record who is owed coupon `n`: the holders at the last block mined at its record date, each owed
   * `couponAmount` of its balance then, `withheld` when the wallet was not eligible at that block. Allowed from the
   * record date on; recorded once (a second call returns the first record).
   */
  async recordCoupon(offeringId: string, n: number): Promise<Result<CouponRecord>> {
    const o = await this.allocated(offeringId);
    if (!o.ok) return o;
    const coupon = couponSchedule(o.value.parsed).find((c) => c.number === n);
    if (!coupon) return err('ERR_OFFERING_COUPON_UNKNOWN', `offering ${offeringId} has no coupon ${n}`);
    if (this.now().getTime() < Date.parse(coupon.recordAt)) {
      return err('ERR_OFFERING_STATE', `coupon ${n} is recorded from ${coupon.recordAt} on`);
    }
    const before = await this.couponPayments(offeringId, n);
    if (before.length > 0) return ok({ coupon, blockNumber: before[0]!.blockNumber, payments: before });
    const blockNumber = await blockAt(this.o.provider, Math.floor(Date.parse(coupon.recordAt) / 1000));
    const rows = await this.snapshot(o.value, blockNumber, 'coupon', n, (b) => couponAmount(o.value.parsed, b));
    if (!rows.ok) return rows;
    return ok({ coupon, blockNumber, payments: await this.save(rows.value, () => this.couponPayments(offeringId, n)) });
  }

  /**
   * Redeem at maturity (from `maturesAt` on): pause the token (no transfer can move units after the record), record
   * every holder's principal (`redemptionAmount`, `withheld` when not eligible), and burn each holder's units through
   * the outbox under `offering:<id>:redeem:<h>` (h: 16 hex digits of the wallet's SHA-256), so retries never burn twice. Idempotent.
   */
  async redeem(offeringId: string): Promise<Result<RedemptionReport>> {
    const o = await this.allocated(offeringId);
    if (!o.ok) return o;
    const terms = o.value.parsed;
    if (!terms.maturesAt) return err('ERR_OFFERING_STATE', `offering ${offeringId} has no maturity date`);
    if (this.now().getTime() < Date.parse(terms.maturesAt)) {
      return err('ERR_OFFERING_STATE', `offering ${offeringId} matures at ${terms.maturesAt}`);
    }
    const token = o.value.tokenAddress!;
    let payments = await this.redemptionPayments(offeringId);
    if (payments.length === 0) {
      const pauseKey = `offering:${offeringId}:redeem:pause`;
      await this.o.outbox.enqueue(pauseKey, {
        kind: 'offering.pause',
        to: token,
        data: tokenIface.encodeFunctionData('pause'),
      });
      await this.o.outbox.flush();
      const paused = await this.o.outbox.get(pauseKey);
      if (paused?.status !== 'mined') {
        return err('ERR_CHAIN_TX_FAILED', `pausing the token failed: ${paused?.error ?? paused?.status ?? 'not sent'}`);
      }
      const blockNumber = await this.o.provider.getBlockNumber();
      const rows = await this.snapshot(o.value, blockNumber, 'redemption', 0, (b) => redemptionAmount(terms, b));
      if (!rows.ok) return rows;
      payments = await this.save(rows.value, () => this.redemptionPayments(offeringId));
    }
    for (const p of payments) {
      await this.o.outbox.enqueue(p.burnKey!, {
        kind: 'offering.burn',
        to: token,
        data: tokenIface.encodeFunctionData('burn', [p.wallet, BigInt(p.balance)]),
      });
    }
    await this.o.outbox.flush();
    const burn: RedemptionReport['burn'] = { burned: 0, pending: 0, failed: [] };
    for (const p of payments) {
      const sent = await this.o.outbox.get(p.burnKey!);
      if (sent?.status === 'mined') burn.burned++;
      else if (sent?.status === 'failed') burn.failed.push({ wallet: p.wallet, error: sent.error ?? 'burn failed' });
      else burn.pending++;
    }
    if (burn.burned === payments.length) {
      await this.o.store
        .offerings()
        .update({ id: offeringId, status: 'allocated' }, { status: 'redeemed', updatedAt: this.now().toISOString() });
    }
    return ok({ blockNumber: payments[0]?.blockNumber ?? 0, payments, burn });
  }

  /** One row per holder at `blockNumber`, with the amount `owed` on its balance and its eligibility at that block. */
  private async snapshot(
    o: OfferingRow & { parsed: OfferingTerms },
    blockNumber: number,
    kind: PaymentRow['kind'],
    coupon: number,
    owed: (balance: bigint) => bigint,
  ): Promise<Result<PaymentRow[]>> {
    const holders = await this.o.holdings(o.id, blockNumber);
    if (!holders.ok) return holders;
    const registry = EligibilityRegistry__factory.connect(this.o.registryAddress, this.o.provider);
    const block = await this.o.provider.getBlock(blockNumber);
    const at = this.now().toISOString();
    const rows: PaymentRow[] = [];
    for (const h of holders.value) {
      const [, , , expiry, frozen] = await registry.recordOf(h.wallet, { blockTag: blockNumber });
      const eligible = Number(expiry) > (block?.timestamp ?? 0) && !frozen;
      const id = kind === 'coupon' ? `${o.id}:coupon:${coupon}:${h.wallet}` : `${o.id}:redemption:${h.wallet}`;
      rows.push({
        id,
        offeringId: o.id,
        kind,
        coupon,
        blockNumber,
        wallet: h.wallet,
        balance: h.balance,
        amount: Number(owed(BigInt(h.balance))),
        currency: o.parsed.unitPrice.currency,
        status: eligible ? 'due' : 'withheld',
        burnKey: kind === 'redemption' ? `offering:${o.id}:redeem:${short(h.wallet)}` : null,
        createdAt: at,
      });
    }
    return ok(rows);
  }

  /** Insert the rows in one transaction; when another replica recorded first, its rows are the record. */
  private async save(rows: PaymentRow[], reread: () => Promise<PaymentRow[]>): Promise<PaymentRow[]> {
    try {
      await this.o.store.transaction(async (m) => {
        for (const r of rows) await this.o.store.payments(m).insert(r);
      });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
    return reread();
  }
}
