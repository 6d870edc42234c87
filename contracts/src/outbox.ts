import { TesseraError } from '@tessera/protocol';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type DataSource,
  type EntityManager,
  EntitySchema,
  type FindOptionsWhere,
  In,
  IsNull,
  type MigrationInterface,
  type QueryRunner,
} from 'typeorm';
import { type BaseWallet, type JsonRpcProvider, type TransactionReceipt, type Wallet, keccak256 } from 'ethers';
import { waitForReceipt } from './chain.js';

/**
 * The outbox for the services' own on-chain writes.
 *
 * An intended write is recorded under a caller-chosen idempotency key before anything is sent. It is then
 * signed locally, and the signed transaction (with its hash and nonce) is stored BEFORE it is broadcast. Because
 * a signed transaction can be mined at most once, re-sending the stored bytes after a crash can never double it,
 * and a crash at any point leaves a row that `reconcile()` finishes at start:
 *   pending  → sign and send;            signed → receipt? mined : (nonce used by another tx? re-sign : re-send);
 *   mined    → recently mined rows are re-checked, since an embedded chain killed hard may lose its last second.
 * The outbox must be the only user of its account. Writes are sent by the relayer unless they name another account
 * (`from`) whose key was registered with `registerSigner` (or can be had from the source set with `signersFrom`, so
 * that a lease holder can send for an account another replica created): each account has its own nonces, and the
 * outbox must be the only user of each of them too.
 *
 * Several replicas on one PostgreSQL (`lease` option) share one table and one relayer account: every replica
 * enqueues, and only the holder of a lease row sends. The lease has a fencing token that goes up at every change of
 * holder; a write is marked signed (its nonce taken) only in a transaction that holds the lease row with the
 * holder's token, unexpired, so a leader that was paused past its lease can sign nothing afterwards, and the next
 * holder sees every nonce the previous one took (it reconciles them before signing). Every status change is a
 * compare-and-set on the row's previous status and transaction hash, so a late writer never undoes a later one.
 * Waiters on a replica that is not the sender learn the outcome by polling the table.
 */
export type OutboxStatus = 'pending' | 'signed' | 'mined' | 'failed';

export interface OutboxRow {
  id: string;
  kind: string;
  target: string;
  data: string;
  value: string;
  status: OutboxStatus;
  nonce: number | null;
  rawTx: string | null;
  txHash: string | null;
  blockNumber: number | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  /** The sending account (lower-case 0x address), or null for the relayer. */
  sender: string | null;
}

export const OutboxEntity = new EntitySchema<OutboxRow>({
  name: 'OutboxRow',
  tableName: 'tessera_outbox',
  columns: {
    id: { type: 'varchar', length: 200, primary: true },
    kind: { type: 'varchar', length: 64 },
    target: { type: 'varchar', length: 42 },
    data: { type: 'text' },
    value: { type: 'varchar', length: 80 },
    status: { type: 'varchar', length: 16 },
    nonce: { type: 'integer', nullable: true },
    rawTx: { name: 'raw_tx', type: 'text', nullable: true },
    txHash: { name: 'tx_hash', type: 'varchar', length: 66, nullable: true },
    blockNumber: { name: 'block_number', type: 'integer', nullable: true },
    error: { type: 'text', nullable: true },
    attempts: { type: 'integer' },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
    sender: { type: 'varchar', length: 42, nullable: true },
  },
});

export class OutboxMigration1700000000000 implements MigrationInterface {
  name = 'OutboxMigration1700000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_outbox (
      id varchar(200) PRIMARY KEY, kind varchar(64) NOT NULL, target varchar(42) NOT NULL, data text NOT NULL,
      value varchar(80) NOT NULL, status varchar(16) NOT NULL, nonce integer NULL, raw_tx text NULL,
      tx_hash varchar(66) NULL, block_number integer NULL, error text NULL, attempts integer NOT NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query('CREATE INDEX tessera_outbox_status ON tessera_outbox (status, created_at)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_outbox');
  }
}

/** Writes sent by other accounts than the relayer (their key registered with `Outbox.registerSigner`). */
export class OutboxSenderMigration1700000000001 implements MigrationInterface {
  name = 'OutboxSenderMigration1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tessera_outbox ADD COLUMN sender varchar(42) NULL');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tessera_outbox DROP COLUMN sender');
  }
}

/** The sender's lease, for several replicas on one database (used on PostgreSQL only). */
export class OutboxLeaseMigration1700000000002 implements MigrationInterface {
  name = 'OutboxLeaseMigration1700000000002';
  async up(q: QueryRunner): Promise<void> {
    const time = q.connection.options.type === 'postgres' ? 'timestamptz' : 'varchar(32)';
    await q.query(`CREATE TABLE tessera_outbox_lease (
      name varchar(64) PRIMARY KEY, holder varchar(200) NOT NULL, token bigint NOT NULL, expires_at ${time} NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_outbox_lease');
  }
}

export const outboxDatabaseParts = {
  entities: [OutboxEntity],
  migrations: [OutboxMigration1700000000000, OutboxSenderMigration1700000000001, OutboxLeaseMigration1700000000002],
};

export interface OutboxWrite {
  kind: string;
  to: string;
  data: string;
  value?: bigint;
  /** The account that sends it (its key registered with `registerSigner`); the relayer when absent. */
  from?: string;
}

/** Test seam for crash injection: a hook that throws stops processing exactly at that point. */
export interface OutboxHooks {
  /** After a write was signed locally and before it is marked signed (its nonce taken) in the database. */
  beforeMarkSigned?(row: OutboxRow): Promise<void> | void;
  afterSign?(row: OutboxRow): Promise<void> | void;
  afterBroadcast?(row: OutboxRow): Promise<void> | void;
}

/** One sender among replicas: the lease that makes a replica the sender. */
export interface OutboxLeaseOptions {
  /** How long a lease lasts without renewal (default 5000 ms); the leader renews it every third of that. */
  ttlMs?: number;
  /** This replica's name in the lease row (default host:pid:random). */
  holder?: string;
  /** The lease row (default 'relayer'); replicas sharing one relayer account share one name. */
  name?: string;
}

export interface OutboxOptions {
  dataSource: DataSource;
  /** The relayer key, connected to the provider. */
  signer: Wallet;
  provider: JsonRpcProvider;
  chainId: number;
  hooks?: OutboxHooks;
  receiptTimeoutMs?: number;
  onError?(error: unknown): void;
  /**
   * Coordinate with other replicas on the same PostgreSQL: send only while holding the lease (see the class note).
   * Without it the outbox assumes it is the only process using the table (SQLite, one process).
   */
  lease?: OutboxLeaseOptions | boolean;
  /** At most this many writes are signed per flush before their receipts are awaited (default 100). */
  batchSize?: number;
}

/** The lease was lost (or never held) when a write was to be signed: nothing was sent. */
class LeaseLost extends Error {}

const now = () => new Date().toISOString();
const KEY = /^[A-Za-z0-9:._\-/]{1,200}$/;

export class Outbox {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Map<string, ((row: OutboxRow) => void)[]>();
  /** Every pending `waitFor`, to end it on stop. */
  private readonly cancels = new Set<(e: Error) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** Registered sending accounts other than the relayer, by lower-case address, connected to the provider. */
  private readonly signers = new Map<string, BaseWallet>();
  /** Where keys of accounts not registered here are looked up (see `signersFrom`). */
  private signerSource: ((address: string) => Promise<BaseWallet | undefined>) | undefined;
  private readonly lease: Required<OutboxLeaseOptions> | undefined;
  /** The fencing token while this replica holds the lease, and until when (local clock, with a margin). */
  private leaseToken: string | undefined;
  private leaseValidUntil = 0;
  /** Set when the lease was taken (not renewed): what the previous holder left is reconciled before sending. */
  private reconcileDue = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OutboxOptions) {
    const l = options.lease;
    if (l) {
      if (options.dataSource.options.type !== 'postgres')
        throw new TesseraError('ERR_CONFIG_INVALID', 'the outbox lease needs PostgreSQL (SQLite is one process)');
      const o = l === true ? {} : l;
      this.lease = {
        ttlMs: o.ttlMs ?? 5000,
        holder: o.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
        name: o.name ?? 'relayer',
      };
    }
  }

  /** Whether this replica holds the sender's lease now (always true without a lease). */
  get isSender(): boolean {
    return this.lease === undefined || (this.leaseToken !== undefined && Date.now() < this.leaseValidUntil);
  }

  /** The current fencing token (a lease holder only). */
  get fencingToken(): string | undefined {
    return this.isSender ? this.leaseToken : undefined;
  }

  /**
   * Take the lease if it is free or expired, or renew it if held. Returns whether this replica holds it; when it was
   * taken now, `reconcileDue` is set (what the previous holder left is finished before sending). The database's clock
   * decides expiry.
   */
  private async claimLease(): Promise<{ held: boolean }> {
    const l = this.lease!;
    const asked = Date.now();
    const ttl = `${l.ttlMs} milliseconds`;
    if (this.leaseToken !== undefined) {
      const renewed = (await this.options.dataSource.query(
        `UPDATE tessera_outbox_lease SET expires_at = now() + $4::interval
         WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > now() RETURNING token`,
        [l.name, l.holder, this.leaseToken, ttl],
      )) as [unknown[], number];
      if (renewed[1] === 1) {
        this.leaseValidUntil = asked + l.ttlMs - Math.min(1000, l.ttlMs / 5);
        return { held: true };
      }
      this.dropLease();
    }
    const rows = (await this.options.dataSource.query(
      `INSERT INTO tessera_outbox_lease (name, holder, token, expires_at) VALUES ($1, $2, 1, now() + $3::interval)
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = tessera_outbox_lease.token + 1,
         expires_at = EXCLUDED.expires_at
       WHERE tessera_outbox_lease.expires_at <= now()
       RETURNING token`,
      [l.name, l.holder, ttl],
    )) as { token: string }[];
    if (rows.length === 0) return { held: false };
    this.leaseToken = String(rows[0]!.token);
    this.reconcileDue = true;
    this.leaseValidUntil = asked + l.ttlMs - Math.min(1000, l.ttlMs / 5);
    if (!this.renewTimer) {
      this.renewTimer = setInterval(
        () => {
          if (this.leaseToken === undefined) return;
          this.claimLease().catch((e) => {
            this.options.onError?.(e);
          });
        },
        Math.max(50, Math.floor(l.ttlMs / 3)),
      );
      this.renewTimer.unref();
    }
    return { held: true };
  }

  private dropLease() {
    this.leaseToken = undefined;
    this.leaseValidUntil = 0;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Give the lease up (at stop), so that another replica sends at once instead of after the lease's expiry. */
  private async releaseLease(): Promise<void> {
    const token = this.leaseToken;
    this.dropLease();
    if (!this.lease || token === undefined) return;
    await this.options.dataSource.query(
      `UPDATE tessera_outbox_lease SET expires_at = now() - interval '1 second'
       WHERE name = $1 AND holder = $2 AND token = $3`,
      [this.lease.name, this.lease.holder, token],
    );
  }

  /**
   * Change a row from the state it was read in, and only from it (compare-and-set on status and transaction hash).
   * With `fenced`, on a lease, the change happens only while this replica holds the lease row with its token
   * (held FOR SHARE until commit, so a new holder's takeover waits for it and then sees it). Returns whether it
   * changed; throws LeaseLost when fenced and the lease is no longer this replica's.
   */
  private async transition(row: OutboxRow, patch: Partial<OutboxRow>, fenced = false): Promise<boolean> {
    const at = now();
    const where: FindOptionsWhere<OutboxRow> = {
      id: row.id,
      status: row.status,
      txHash: row.txHash === null ? IsNull() : row.txHash,
    };
    const apply = async (m: EntityManager) => {
      if (fenced && this.lease) {
        const token = this.leaseToken;
        if (token === undefined) throw new LeaseLost('the outbox lease is not held');
        const held = (await m.query(
          `SELECT token FROM tessera_outbox_lease
           WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > now() FOR SHARE`,
          [this.lease.name, this.lease.holder, token],
        )) as unknown[];
        if (held.length === 0) {
          this.dropLease();
          throw new LeaseLost('the outbox lease was taken over');
        }
      }
      const r = await m.getRepository(OutboxEntity).update(where, { ...patch, updatedAt: at });
      return (r.affected ?? 0) === 1;
    };
    const changed =
      fenced && this.lease
        ? await this.options.dataSource.transaction(apply)
        : await apply(this.options.dataSource.manager);
    if (!changed) return false;
    Object.assign(row, patch, { updatedAt: at });
    if (row.status === 'mined' || row.status === 'failed') this.notify(row);
    return true;
  }

  private get repo() {
    return this.options.dataSource.getRepository(OutboxEntity);
  }

  get address(): string {
    return this.options.signer.address;
  }

  /** The `sender` column of a write from `from` (null for the relayer). */
  private senderOf(from: string | undefined): string | null {
    if (from === undefined || from.toLowerCase() === this.address.toLowerCase()) return null;
    return from.toLowerCase();
  }

  private walletOf(sender: string | null): BaseWallet | undefined {
    return sender === null ? this.options.signer : this.signers.get(sender);
  }

  /**
   * Let the outbox send writes from another account. Writes of that account left by a previous process are
   * reconciled now (as `reconcile` does for the relayer at start), before any new one of it is sent. Registering an
   * account again does nothing.
   */
  async registerSigner(wallet: BaseWallet): Promise<{ resent: number; resigned: number; confirmed: number }> {
    const sender = wallet.address.toLowerCase();
    if (sender === this.address.toLowerCase() || this.signers.has(sender))
      return { resent: 0, resigned: 0, confirmed: 0 };
    this.signers.set(sender, wallet.connect(this.options.provider));
    return this.reconcileSender(sender);
  }

  /**
   * Where to find the key of an account that has writes waiting but was not registered in this process (for example
   * one created at another replica after this one started, when this one holds the sender's lease). The key found is
   * registered as `registerSigner` would, and the account's writes left signed by a previous sender are reconciled
   * before its first new one is sent. The source answers undefined for an account it does not know.
   */
  signersFrom(source: (address: string) => Promise<BaseWallet | undefined>): void {
    this.signerSource = source;
  }

  /** Whether the signer source has the key of `sender` (which is then adopted by whichever replica sends). */
  private async sourceKnows(sender: string | null): Promise<boolean> {
    if (sender === null || !this.signerSource) return false;
    const wallet = await this.signerSource(sender);
    return wallet !== undefined && wallet.address.toLowerCase() === sender;
  }

  /**
   * Register, from the source, every account in `senders` that has no key here yet; reconcile what a previous sender
   * left for it. Inside `exclusive`, as the sender.
   */
  private async adopt(senders: Iterable<string | null>): Promise<void> {
    if (!this.signerSource) return;
    for (const sender of new Set(senders)) {
      if (sender === null || this.signers.has(sender)) continue;
      let wallet: BaseWallet | undefined;
      try {
        wallet = await this.signerSource(sender);
      } catch (e) {
        this.options.onError?.(e);
        continue;
      }
      if (!wallet || wallet.address.toLowerCase() !== sender) continue;
      this.signers.set(sender, wallet.connect(this.options.provider));
      await this.reconcileInner(sender);
    }
  }

  /** Whether writes from `address` can be sent (the relayer, or a registered signer). */
  canSend(address: string): boolean {
    return this.walletOf(this.senderOf(address)) !== undefined;
  }

  /** Serialise everything that touches nonces. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Record an intended write. Idempotent: the same key returns the existing row and never writes twice.
   * Nothing is sent until `flush()` (or the background loop) runs.
   */
  async enqueue(key: string, write: OutboxWrite): Promise<OutboxRow> {
    if (!KEY.test(key)) throw new TesseraError('ERR_BAD_REQUEST', `invalid outbox key '${key.slice(0, 60)}'`);
    const sender = this.senderOf(write.from);
    const existing = await this.repo.findOneBy({ id: key });
    if (existing) return existing;
    if (this.walletOf(sender) === undefined && !(await this.sourceKnows(sender)))
      throw new TesseraError('ERR_BAD_REQUEST', `no key is registered to send from ${write.from}`);
    const row: OutboxRow = {
      id: key,
      kind: write.kind,
      target: write.to.toLowerCase(),
      data: write.data,
      value: (write.value ?? 0n).toString(),
      status: 'pending',
      nonce: null,
      rawTx: null,
      txHash: null,
      blockNumber: null,
      error: null,
      attempts: 0,
      createdAt: now(),
      updatedAt: now(),
      sender,
    };
    try {
      await this.repo.insert(row);
    } catch (cause) {
      const again = await this.repo.findOneBy({ id: key }); // lost a race with another enqueue of the same key
      if (again) return again;
      throw cause;
    }
    return row;
  }

  /** Enqueue, send and wait until mined; returns the final row (status mined or failed). */
  async submit(key: string, write: OutboxWrite): Promise<OutboxRow> {
    const row = await this.enqueue(key, write);
    if (row.status === 'mined' || row.status === 'failed') return row;
    const done = this.waitFor(key);
    // Marked handled now: if the flush throws, or outlasts the wait, the caller gets that error instead of an
    // unhandled rejection from the wait (which crashed a process after the write's caller had moved on).
    let final = false;
    done.then(
      () => (final = true),
      () => (final = true),
    );
    // A flush sends at most a batch: flush again while this process sends and the write is not final.
    while ((await this.flush()) > 0 && !final) {}
    return done;
  }

  get(key: string): Promise<OutboxRow | null> {
    return this.repo.findOneBy({ id: key });
  }

  /** How many writes whose key starts with `prefix` were recorded at or after `since` (for budgets on a kind of write). */
  async countSince(prefix: string, since: Date): Promise<number> {
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    return this.repo
      .createQueryBuilder('o')
      .where("o.id LIKE :prefix ESCAPE '\\'", { prefix: `${escaped}%` })
      .andWhere('o.createdAt >= :since', { since: since.toISOString() })
      .getCount();
  }

  async counts(): Promise<Record<OutboxStatus, number>> {
    const rows = (await this.repo
      .createQueryBuilder('o')
      .select('o.status', 'status')
      .addSelect('COUNT(*)', 'n')
      .groupBy('o.status')
      .getRawMany()) as { status: OutboxStatus; n: string | number }[];
    const out: Record<OutboxStatus, number> = { pending: 0, signed: 0, mined: 0, failed: 0 };
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }

  /** Resolves when the row reaches mined or failed. */
  waitFor(key: string, timeoutMs = 60_000): Promise<OutboxRow> {
    return new Promise((resolve, reject) => {
      const cancel = (e: Error) => {
        clearTimeout(t);
        this.cancels.delete(cancel);
        reject(e);
      };
      const t = setTimeout(
        () => cancel(new TesseraError('ERR_CHAIN_TX_FAILED', `outbox write '${key}' not final after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.cancels.add(cancel);
      const list = this.waiters.get(key) ?? [];
      list.push((row) => {
        clearTimeout(t);
        this.cancels.delete(cancel);
        resolve(row);
      });
      this.waiters.set(key, list);
      void this.repo.findOneBy({ id: key }).then((row) => {
        if (row && (row.status === 'mined' || row.status === 'failed')) this.notify(row);
      });
      this.pollWaiters();
    });
  }

  /** On a lease, another replica may finish the rows waited for here: read their outcome from the table. */
  private pollWaiters() {
    if (!this.lease || this.pollTimer || this.waiters.size === 0) return;
    this.pollTimer = setTimeout(async () => {
      try {
        const keys = [...this.waiters.keys()];
        for (let i = 0; i < keys.length; i += 500) {
          const done = await this.repo.find({
            where: { id: In(keys.slice(i, i + 500)), status: In(['mined', 'failed']) },
          });
          for (const row of done) this.notify(row);
        }
      } catch (e) {
        this.options.onError?.(e);
      } finally {
        this.pollTimer = undefined;
        this.pollWaiters();
      }
    }, 100);
    this.pollTimer.unref();
  }

  private notify(row: OutboxRow) {
    const list = this.waiters.get(row.id);
    if (!list) return;
    this.waiters.delete(row.id);
    for (const fn of list) fn(row);
  }

  private async finishFromReceipt(row: OutboxRow, receipt: TransactionReceipt): Promise<void> {
    await this.transition(
      row,
      receipt.status === 1
        ? { status: 'mined', blockNumber: receipt.blockNumber, error: null }
        : { status: 'failed', blockNumber: receipt.blockNumber, error: 'transaction reverted' },
    );
  }

  /**
   * Finish what a previous process left: run once at start, before new writes are sent.
   * Returns how many rows were re-sent, re-signed and confirmed.
   */
  reconcile(): Promise<{ resent: number; resigned: number; confirmed: number }> {
    if (!this.lease) {
      return this.exclusive(async () => {
        const stats = await this.reconcileInner(null);
        // Accounts with writes left signed whose keys the source has (registered accounts reconcile on registering).
        await this.adopt(await this.sendersWith('signed'));
        return stats;
      });
    }
    // On a lease: only the holder reconciles, and it does so whenever it takes the lease (in `flush`).
    return this.exclusive(async () => {
      const stats = { resent: 0, resigned: 0, confirmed: 0 };
      const { held } = await this.claimLease();
      if (!held || !this.reconcileDue) return stats;
      try {
        for (const sender of [null, ...this.signers.keys()]) {
          const s = await this.reconcileInner(sender);
          stats.resent += s.resent;
          stats.resigned += s.resigned;
          stats.confirmed += s.confirmed;
        }
        await this.adopt(await this.sendersWith('signed'));
        this.reconcileDue = false;
      } catch (e) {
        if (!(e instanceof LeaseLost)) throw e;
      }
      return stats;
    });
  }

  private reconcileSender(sender: string | null): Promise<{ resent: number; resigned: number; confirmed: number }> {
    return this.exclusive(async () => {
      if (!this.isSender) return { resent: 0, resigned: 0, confirmed: 0 };
      try {
        return await this.reconcileInner(sender);
      } catch (e) {
        if (e instanceof LeaseLost) return { resent: 0, resigned: 0, confirmed: 0 };
        throw e;
      }
    });
  }

  private async reconcileInner(
    sender: string | null,
  ): Promise<{ resent: number; resigned: number; confirmed: number }> {
    {
      const { provider } = this.options;
      const stats = { resent: 0, resigned: 0, confirmed: 0 };
      const mine = (status: OutboxStatus): FindOptionsWhere<OutboxRow> => ({
        status,
        sender: sender === null ? IsNull() : sender,
      });
      // Mined rows of the last 10 minutes are re-checked: a chain that lost its tail loses their receipts.
      const since = new Date(Date.now() - 10 * 60_000).toISOString();
      const recent = (await this.repo.find({ where: mine('mined'), order: { updatedAt: 'DESC' }, take: 1000 })).filter(
        (r) => r.updatedAt >= since,
      );
      for (const row of recent) {
        if (!(await provider.getTransactionReceipt(row.txHash!)))
          await this.transition(row, { status: 'signed', blockNumber: null }, true);
      }
      const signed = await this.repo.find({ where: mine('signed'), order: { nonce: 'ASC' } });
      let chainNonce = await provider.getTransactionCount(sender ?? this.address, 'latest');
      let resetRest = false;
      for (const row of signed) {
        const receipt = await provider.getTransactionReceipt(row.txHash!);
        if (receipt) {
          await this.finishFromReceipt(row, receipt);
          stats.confirmed++;
          continue;
        }
        if (resetRest || row.nonce! < chainNonce) {
          // The nonce went to another transaction, so this signed one can never be mined: sign it anew.
          resetRest = true;
          await this.transition(row, { status: 'pending', nonce: null, rawTx: null, txHash: null }, true);
          stats.resigned++;
          continue;
        }
        await this.broadcast(row);
        stats.resent++;
        chainNonce++;
      }
      await this.waitReceipts(await this.repo.find({ where: mine('signed'), order: { nonce: 'ASC' } }));
      return stats;
    }
  }

  private async broadcast(row: OutboxRow): Promise<void> {
    try {
      await this.options.provider.broadcastTransaction(row.rawTx!);
    } catch (e) {
      const msg = String((e as Error).message ?? e);
      // Already known / already mined are fine: the receipt decides.
      if (!/already known|nonce too low|known transaction|already imported/i.test(msg)) throw e;
    }
  }

  private async waitReceipts(rows: OutboxRow[]): Promise<void> {
    const timeout = this.options.receiptTimeoutMs ?? 30_000;
    for (const row of rows) {
      const receipt = await waitForReceipt(this.options.provider, row.txHash!, { timeoutMs: timeout });
      await this.finishFromReceipt(row, receipt);
    }
  }

  /** Sign, store and send every pending write in order, then wait for their receipts. */
  flush(): Promise<number> {
    return this.exclusive(async () => {
      if (this.lease) {
        // Only the lease holder sends; one that has just taken it first finishes what the previous holder left.
        const { held } = await this.claimLease();
        if (!held) return 0;
        if (this.reconcileDue) {
          try {
            for (const sender of [null, ...this.signers.keys()]) await this.reconcileInner(sender);
            await this.adopt(await this.sendersWith('signed'));
            this.reconcileDue = false;
          } catch (e) {
            if (e instanceof LeaseLost) return 0;
            throw e;
          }
        }
      }
      try {
        return await this.flushInner();
      } catch (e) {
        if (e instanceof LeaseLost) return 0;
        throw e;
      }
    });
  }

  /** The accounts (other than the relayer) that have rows in `status`. */
  private async sendersWith(status: OutboxStatus): Promise<string[]> {
    if (!this.signerSource) return [];
    const rows = (await this.repo
      .createQueryBuilder('o')
      .select('DISTINCT o.sender', 'sender')
      .where('o.status = :status', { status })
      .andWhere('o.sender IS NOT NULL')
      .getRawMany()) as { sender: string }[];
    return rows.map((r) => r.sender);
  }

  /** The next nonce of an account: the chain's pending count, past every nonce a signed row already holds. */
  private async nextNonce(sender: string | null, from: string): Promise<number> {
    const chain = await this.options.provider.getTransactionCount(from, 'pending');
    if (!this.lease) return chain;
    const r = (await this.repo
      .createQueryBuilder('o')
      .select('MAX(o.nonce)', 'max')
      .where("o.status = 'signed'")
      .andWhere(sender === null ? 'o.sender IS NULL' : 'o.sender = :sender', { sender })
      .getRawOne()) as { max: number | string | null } | undefined;
    const max = r?.max === null || r?.max === undefined ? -1 : Number(r.max);
    return Math.max(chain, max + 1);
  }

  private async flushInner(): Promise<number> {
    {
      const { provider, chainId, hooks } = this.options;
      const pending = await this.repo.find({
        where: { status: 'pending' },
        order: { createdAt: 'ASC', id: 'ASC' },
        take: this.options.batchSize ?? 100,
      });
      if (pending.length === 0) return 0;
      await this.adopt(pending.map((r) => r.sender));
      const nonces = new Map<string | null, number>();
      const fee = await provider.getFeeData();
      const sent: OutboxRow[] = [];
      for (const row of pending) {
        // A write of an account whose key this process has not registered waits for `registerSigner`.
        const signer = this.walletOf(row.sender);
        if (!signer) continue;
        const from = signer.address;
        const nonce = nonces.get(row.sender) ?? (await this.nextNonce(row.sender, from));
        const tx = { to: row.target, data: row.data, value: BigInt(row.value), chainId, nonce, type: 2 as const };
        let gasLimit: bigint;
        try {
          gasLimit = await provider.estimateGas({ ...tx, from });
        } catch (e) {
          // It would revert now; record why instead of burning a nonce on it.
          await this.transition(row, {
            status: 'failed',
            error: `would revert: ${String((e as Error).message).slice(0, 300)}`,
          });
          nonces.set(row.sender, nonce);
          continue;
        }
        const rawTx = await signer.signTransaction({
          ...tx,
          gasLimit: (gasLimit * 12n) / 10n,
          maxFeePerGas: fee.maxFeePerGas ?? undefined,
          maxPriorityFeePerGas: fee.maxPriorityFeePerGas ?? undefined,
        });
        await hooks?.beforeMarkSigned?.(row);
        const signed = await this.transition(
          row,
          { status: 'signed', nonce, rawTx, txHash: keccak256(rawTx), attempts: row.attempts + 1 },
          true,
        );
        if (!signed) continue; // another replica's change came first: this nonce stays free
        await hooks?.afterSign?.(row);
        await this.broadcast(row);
        await hooks?.afterBroadcast?.(row);
        sent.push(row);
        nonces.set(row.sender, nonce + 1);
      }
      await this.waitReceipts(sent);
      return sent.length;
    }
  }

  /** Flush in the background every `intervalMs`; errors go to `onError` and the loop goes on. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    const tick = () => {
      this.flush()
        .catch((e) => this.options.onError?.(e))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /**
   * Stop the background loop and let the running flush finish. Writes still waited for are not lost (they stay in
   * the table and are sent at the next start); their waiters are told so with ERR_UNAVAILABLE, and no timer of theirs
   * keeps the process alive.
   */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.releaseLease().catch((e) => this.options.onError?.(e));
    for (const cancel of [...this.cancels]) {
      cancel(
        new TesseraError(
          'ERR_UNAVAILABLE',
          'the outbox stopped before this write was final; it is sent at the next start',
        ),
      );
    }
  }
}
