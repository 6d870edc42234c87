import { type DataSource, EntitySchema, type EntityManager, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Durable state of the offerings domain: offerings (terms as validated JSON, book total, certification, token),
 * subscriptions, and the eligibility each investor wallet was given on chain. The SQL is portable between SQLite and
 * PostgreSQL: varchar, text and bigint only, no engine-specific syntax; quantities are bigints read back as numbers.
 */

export type OfferingStatus = 'open' | 'allocated' | 'redeemed' | 'cancelled';
export type SubscriptionStatus = 'subscribed' | 'allocated' | 'minted' | 'unallocated' | 'mint-failed';

export interface OfferingRow {
  id: string;
  issuer: string;
  /** OfferingTerms as JSON (already validated). */
  terms: string;
  status: OfferingStatus;
  tokenAddress: string | null;
  /** Certification as JSON. */
  certification: string | null;
  /** Units in the book. */
  subscribed: number;
  createdAt: string;
  updatedAt: string;
  allocatedAt: string | null;
}

export interface SubscriptionRow {
  id: string;
  offeringId: string;
  investor: string;
  wallet: string;
  quantity: number;
  jurisdiction: string;
  credentialId: string;
  status: SubscriptionStatus;
  allocated: number | null;
  /** Outbox key of the mint. */
  mintKey: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface EligibilityRow {
  wallet: string;
  investor: string;
  credentialId: string;
  /** bytes16 identity hash, 0x hex. */
  identity: string;
  country: string;
  bits: number;
  /** Unix seconds. */
  expiresAt: number;
  status: 'active' | 'removed';
  /** Outbox key of the setEligibility write, and of the removal when removed. */
  setKey: string;
  removeKey: string | null;
  updatedAt: string;
}

/** What one holder of record is owed: one coupon, or the principal at redemption. */
export interface PaymentRow {
  /** `<offering>:coupon:<n>:<wallet>` or `<offering>:redemption:<wallet>`. */
  id: string;
  offeringId: string;
  kind: 'coupon' | 'redemption';
  /** The coupon's number; 0 for the redemption. */
  coupon: number;
  /** The block whose balances the record was taken from. */
  blockNumber: number;
  wallet: string;
  /** Token base units held at that block, decimal. */
  balance: string;
  /** Minor units of `currency`, rounded down. */
  amount: number;
  currency: string;
  /** `withheld`: the wallet was not eligible (no record, expired or frozen) at the record block; paid once it is. */
  status: 'due' | 'withheld';
  /** Outbox key of the burn (redemption only). */
  burnKey: string | null;
  createdAt: string;
}

/** bigint columns come back as strings from PostgreSQL and numbers from SQLite. */
const asNumber = { to: (v: unknown) => v, from: (v: unknown) => (v === null || v === undefined ? v : Number(v)) };

export const OfferingEntity = new EntitySchema<OfferingRow>({
  name: 'OfferingRow',
  tableName: 'tessera_offering',
  columns: {
    id: { type: 'varchar', length: 64, primary: true },
    issuer: { type: 'varchar', length: 512 },
    terms: { type: 'text' },
    status: { type: 'varchar', length: 16 },
    tokenAddress: { name: 'token_address', type: 'varchar', length: 42, nullable: true },
    certification: { type: 'text', nullable: true },
    subscribed: { type: 'bigint', transformer: asNumber },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
    allocatedAt: { name: 'allocated_at', type: 'varchar', length: 32, nullable: true },
  },
});

export const SubscriptionEntity = new EntitySchema<SubscriptionRow>({
  name: 'OfferingSubscriptionRow',
  tableName: 'tessera_offering_subscription',
  columns: {
    id: { type: 'varchar', length: 100, primary: true },
    offeringId: { name: 'offering_id', type: 'varchar', length: 64 },
    investor: { type: 'varchar', length: 512 },
    wallet: { type: 'varchar', length: 42 },
    quantity: { type: 'bigint', transformer: asNumber },
    jurisdiction: { type: 'varchar', length: 2 },
    credentialId: { name: 'credential_id', type: 'varchar', length: 512 },
    status: { type: 'varchar', length: 16 },
    allocated: { type: 'bigint', nullable: true, transformer: asNumber },
    mintKey: { name: 'mint_key', type: 'varchar', length: 200, nullable: true },
    error: { type: 'text', nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const EligibilityEntity = new EntitySchema<EligibilityRow>({
  name: 'InvestorEligibilityRow',
  tableName: 'tessera_investor_eligibility',
  columns: {
    wallet: { type: 'varchar', length: 42, primary: true },
    investor: { type: 'varchar', length: 512 },
    credentialId: { name: 'credential_id', type: 'varchar', length: 512 },
    identity: { type: 'varchar', length: 34 },
    country: { type: 'varchar', length: 2 },
    bits: { type: 'bigint', transformer: asNumber },
    expiresAt: { name: 'expires_at', type: 'bigint', transformer: asNumber },
    status: { type: 'varchar', length: 16 },
    setKey: { name: 'set_key', type: 'varchar', length: 200 },
    removeKey: { name: 'remove_key', type: 'varchar', length: 200, nullable: true },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const PaymentEntity = new EntitySchema<PaymentRow>({
  name: 'OfferingPaymentRow',
  tableName: 'tessera_offering_payment',
  columns: {
    id: { type: 'varchar', length: 120, primary: true },
    offeringId: { name: 'offering_id', type: 'varchar', length: 64 },
    kind: { type: 'varchar', length: 16 },
    coupon: { type: 'bigint', transformer: asNumber },
    blockNumber: { name: 'block_number', type: 'bigint', transformer: asNumber },
    wallet: { type: 'varchar', length: 42 },
    balance: { type: 'varchar', length: 80 },
    amount: { type: 'bigint', transformer: asNumber },
    currency: { type: 'varchar', length: 3 },
    status: { type: 'varchar', length: 16 },
    burnKey: { name: 'burn_key', type: 'varchar', length: 200, nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
  },
});

export class OfferingsMigration1763780000000 implements MigrationInterface {
  name = 'OfferingsMigration1763780000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_offering (
      id varchar(64) PRIMARY KEY, issuer varchar(512) NOT NULL, terms text NOT NULL, status varchar(16) NOT NULL,
      token_address varchar(42) NULL, certification text NULL, subscribed bigint NOT NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL, allocated_at varchar(32) NULL)`);
    await q.query(`CREATE TABLE tessera_offering_subscription (
      id varchar(100) PRIMARY KEY, offering_id varchar(64) NOT NULL REFERENCES tessera_offering (id),
      investor varchar(512) NOT NULL, wallet varchar(42) NOT NULL, quantity bigint NOT NULL,
      jurisdiction varchar(2) NOT NULL, credential_id varchar(512) NOT NULL, status varchar(16) NOT NULL,
      allocated bigint NULL, mint_key varchar(200) NULL, error text NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    // One ticket per investor per offering, whatever replica takes it.
    await q.query(
      'CREATE UNIQUE INDEX tessera_offering_subscription_investor ON tessera_offering_subscription (offering_id, investor)',
    );
    await q.query(
      'CREATE INDEX tessera_offering_subscription_credential ON tessera_offering_subscription (credential_id)',
    );
    await q.query(`CREATE TABLE tessera_investor_eligibility (
      wallet varchar(42) PRIMARY KEY, investor varchar(512) NOT NULL, credential_id varchar(512) NOT NULL,
      identity varchar(34) NOT NULL, country varchar(2) NOT NULL, bits bigint NOT NULL, expires_at bigint NOT NULL,
      status varchar(16) NOT NULL, set_key varchar(200) NOT NULL, remove_key varchar(200) NULL,
      updated_at varchar(32) NOT NULL)`);
    await q.query(
      'CREATE INDEX tessera_investor_eligibility_credential ON tessera_investor_eligibility (credential_id)',
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_investor_eligibility');
    await q.query('DROP TABLE tessera_offering_subscription');
    await q.query('DROP TABLE tessera_offering');
  }
}

/** Coupon and redemption records. */
export class OfferingPaymentsMigration1763790000000 implements MigrationInterface {
  name = 'OfferingPaymentsMigration1763790000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_offering_payment (
      id varchar(120) PRIMARY KEY, offering_id varchar(64) NOT NULL REFERENCES tessera_offering (id),
      kind varchar(16) NOT NULL, coupon bigint NOT NULL, block_number bigint NOT NULL, wallet varchar(42) NOT NULL,
      balance varchar(80) NOT NULL, amount bigint NOT NULL, currency varchar(3) NOT NULL, status varchar(16) NOT NULL,
      burn_key varchar(200) NULL, created_at varchar(32) NOT NULL)`);
    await q.query(
      'CREATE INDEX tessera_offering_payment_offering ON tessera_offering_payment (offering_id, kind, coupon)',
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_offering_payment');
  }
}

export const offeringsDatabaseParts = {
  entities: [OfferingEntity, SubscriptionEntity, EligibilityEntity, PaymentEntity],
  migrations: [OfferingsMigration1763780000000, OfferingPaymentsMigration1763790000000],
};

/** Repository access for the offerings domain; every multi-row change runs in one transaction. */
export class OfferingStore {
  /** SQLite has one connection per process: its transactions must not interleave, so they queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ds: DataSource) {}

  offerings(m: EntityManager = this.ds.manager) {
    return m.getRepository(OfferingEntity);
  }
  subscriptions(m: EntityManager = this.ds.manager) {
    return m.getRepository(SubscriptionEntity);
  }
  eligibility(m: EntityManager = this.ds.manager) {
    return m.getRepository(EligibilityEntity);
  }
  payments(m: EntityManager = this.ds.manager) {
    return m.getRepository(PaymentEntity);
  }

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    if (this.ds.options.type === 'postgres') return this.ds.transaction(fn);
    const run = () => this.ds.transaction(fn);
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Add `quantity` units to the book of an open offering only if the book stays within `cap`: one conditional
   * UPDATE, so concurrent subscriptions on any number of replicas can never overfill the book.
   * @returns whether the units were taken
   */
  async takeFromBook(
    m: EntityManager,
    offeringId: string,
    quantity: number,
    cap: number,
    now: string,
  ): Promise<boolean> {
    const r = await m
      .createQueryBuilder()
      .update(OfferingEntity)
      .set({ subscribed: () => 'subscribed + :q', updatedAt: now })
      .where("id = :id AND status = 'open' AND subscribed + :q <= :cap", { id: offeringId, q: quantity, cap })
      .setParameter('q', quantity)
      .execute();
    return (r.affected ?? 0) === 1;
  }
}
