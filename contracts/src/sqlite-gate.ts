import { AsyncLocalStorage } from 'node:async_hooks';
import { TesseraError } from '@tessera/protocol';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * SQLite has one connection per process and typeorm hands every caller the same query runner, so two transactions
 * started concurrently would nest (the second becomes a SAVEPOINT inside the first) and a write made outside any
 * transaction would run inside whichever one is open: when that one fails (a full disk, a constraint), the other
 * caller's acknowledged write is rolled back with it, and a failed COMMIT could leave the connection inside a
 * transaction that is never committed. The gate gives every caller its own query-runner state over the one
 * connection and serializes them: a transaction holds the connection from BEGIN to COMMIT/ROLLBACK, a statement
 * outside a transaction waits for it (first come, first served).
 *
 * Inside a transaction's callback every statement must go through the callback's own manager (`m`): one made through
 * the data source's manager (`ds.manager`, `ds.getRepository`, a nested `ds.transaction`) is a statement outside the
 * transaction and waits for it, which never ends. Such a mistake is caught two ways:
 * - the test runner sets `TESSERA_SQLITE_GATE_CHECK=1`, and then the gate follows each transaction's async context
 *   (an AsyncLocalStorage) and refuses such a statement at once with ERR_INTERNAL, naming the mistake; this is off
 *   otherwise, because on Node 20 an AsyncLocalStorage in use puts a hook on every promise of the process (the
 *   issuer's write path measured 5–10% slower with it);
 * - whatever slips through: a transaction that has held the connection for `holdLimitMs` (default
 *   SQLITE_HOLD_LIMIT_MS) gets the statements waiting for it refused with ERR_STORAGE_UNAVAILABLE, so the stuck
 *   callback fails, its transaction rolls back, and the store serves again.
 *
 * A storage fault (disk full, I/O error, read-only file) fails the statement with `ERR_STORAGE_UNAVAILABLE`, always
 * leaves the connection outside any transaction, and is remembered until a write probe succeeds (`storageHealth`).
 */
export interface StorageHealth {
  ok: boolean;
  /** The driver's code of the last storage fault, while the store is not writable. */
  fault?: string;
  message?: string;
  since?: string;
}

/** How long one transaction may hold the connection before the statements waiting for it are refused. */
export const SQLITE_HOLD_LIMIT_MS = 30_000;

export interface SqliteGateOptions {
  /** Default SQLITE_HOLD_LIMIT_MS. */
  holdLimitMs?: number;
  /** Refuse statements made inside a transaction's callback through another manager (default: `TESSERA_SQLITE_GATE_CHECK=1`). */
  check?: boolean;
}

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (e: Error) => void;
}

interface Gate {
  /** Only when checking: the async context of each transaction begun through the manager. */
  als: AsyncLocalStorage<object> | undefined;
  /** Whether someone holds the connection (a transaction, or one statement outside any). */
  busy: boolean;
  /** Who waits for it, in order. */
  queue: Waiter[];
  /** When checking: the async context (a token from `als`) whose transaction holds the connection. */
  holder: object | undefined;
  holderSession: QueryRunner | undefined;
  /** When the holding transaction began (Date.now()). */
  holderSince: number;
  /** The timer that refuses the waiters of a transaction held too long (armed only while someone waits). */
  watch: NodeJS.Timeout | undefined;
  fault: { code: string; message: string; since: string } | undefined;
  probe(): Promise<StorageHealth>;
}

const gates = new WeakMap<DataSource, Gate>();

const STORAGE_FAULT = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/;

/** The SQLite result code of a driver error wrapped by typeorm, or ''. */
function sqliteCode(e: unknown): string {
  const d = (e as { driverError?: { code?: unknown } })?.driverError ?? (e as { code?: unknown });
  return typeof d?.code === 'string' ? d.code : '';
}

export function isStorageFault(e: unknown): boolean {
  return STORAGE_FAULT.test(sqliteCode(e));
}

interface RawDb {
  inTransaction: boolean;
  exec(sql: string): unknown;
}

/** typeorm's flags, read-only in its typings. */
interface Writable {
  isReleased: boolean;
  isTransactionActive: boolean;
}

interface Session extends QueryRunner {
  gateRelease?: () => void;
  /** typeorm's nesting depth (BEGIN at 0, SAVEPOINTs above), protected in its typings. */
  transactionDepth: number;
}

/** Install the gate on a freshly initialized better-sqlite3 DataSource (before anything else uses it). */
export function installSqliteGate(ds: DataSource, options: SqliteGateOptions = {}): void {
  const holdLimitMs = options.holdLimitMs ?? SQLITE_HOLD_LIMIT_MS;
  const check = options.check ?? process.env.TESSERA_SQLITE_GATE_CHECK === '1';
  // biome-ignore lint/suspicious/noExplicitAny: typeorm's driver internals are not typed for this
  const driver = ds.driver as any;
  const base: QueryRunner = driver.createQueryRunner('master');
  const raw = (): RawDb => driver.databaseConnection as RawDb;
  const gate: Gate = {
    als: check ? new AsyncLocalStorage<object>() : undefined,
    busy: false,
    queue: [],
    holder: undefined,
    holderSession: undefined,
    holderSince: 0,
    watch: undefined,
    fault: undefined,
    probe: async () => ({ ok: true }),
  };
  gates.set(ds, gate);

  /** A release for one acquisition (idempotent): hands the connection to the next waiter, or frees it. */
  const releaser = (): (() => void) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = gate.queue.shift();
      if (next) next.resolve(releaser());
      else gate.busy = false;
    };
  };
  /** The connection now (undefined: someone holds it; wait with `acquire`). */
  const tryAcquire = (): (() => void) | undefined => {
    if (gate.busy) return undefined;
    gate.busy = true;
    return releaser();
  };
  const acquire = (): Promise<() => void> =>
    new Promise((resolve, reject) => {
      const now = tryAcquire();
      if (now) resolve(now);
      else {
        gate.queue.push({ resolve, reject });
        watch();
      }
    });
  const inHolder = () => gate.als !== undefined && gate.holder !== undefined && gate.als.getStore() === gate.holder;
  const stray = (what: string) =>
    new TesseraError(
      'ERR_INTERNAL',
      `${what} inside a transaction's callback went through another manager than the transaction's own: use the callback's manager (it would wait for its own transaction forever)`,
    );
  /** The transaction of `s` held the connection too long: refuse everyone waiting for it (see the top). */
  const refuseWaiters = (s: Session) => {
    if (gate.holderSession !== s) return;
    for (const w of gate.queue.splice(0))
      w.reject(
        new TesseraError(
          'ERR_STORAGE_UNAVAILABLE',
          `one transaction has held the database for ${holdLimitMs / 1000} s; this statement was refused instead of waiting longer`,
        ),
      );
  };

  const baseQuery = base.query;
  const baseStart = base.startTransaction;
  const baseCommit = base.commitTransaction;
  const baseRollback = base.rollbackTransaction;

  const storageFault = (e: unknown): never => {
    if (isStorageFault(e)) {
      const code = sqliteCode(e);
      const message = (e as Error).message;
      if (!gate.fault) gate.fault = { code, message, since: new Date().toISOString() };
      throw new TesseraError('ERR_STORAGE_UNAVAILABLE', `the database refused the write (${code}): ${message}`, {
        cause: e,
      });
    }
    throw e;
  };
  // Every statement of the process passes here: promises chained, no extra async layers.
  const runQuery = (s: Session, args: unknown[]): Promise<unknown> => {
    // A connection that SQLite took out of the transaction (after a storage fault) must not run the rest of the
    // transaction's statements one by one in autocommit mode.
    if (s.transactionDepth > 0 && !raw().inTransaction && !/^\s*(ROLLBACK|COMMIT)/i.test(String(args[0]))) {
      return Promise.reject(
        new TesseraError(
          'ERR_STORAGE_UNAVAILABLE',
          'the database rolled the transaction back after a storage fault; nothing of it was recorded',
        ),
      );
    }
    // biome-ignore lint/suspicious/noExplicitAny: forwarding typeorm's overloads
    return ((baseQuery as any).apply(s, args) as Promise<unknown>).catch(storageFault);
  };
  /** Run one statement outside any transaction with the connection held, and hand it on when it settles. */
  const runHolding = (s: Session, args: unknown[], release: () => void): Promise<unknown> => {
    const p = runQuery(s, args);
    p.then(release, release);
    return p;
  };

  // The methods every caller's runner shares (one object; each caller's runner adds only its own state).
  const proto = Object.create(base) as Session;
  proto.query = function (this: Session, ...args: unknown[]) {
    if (this.gateRelease) return runQuery(this, args);
    if (inHolder()) return Promise.reject(stray('a statement'));
    const release = tryAcquire();
    if (release) return runHolding(this, args, release);
    return acquire().then((r) => runHolding(this, args, r));
    // biome-ignore lint/suspicious/noExplicitAny: typeorm's overloads
  } as any;
  proto.startTransaction = async function (this: Session, isolation?: Parameters<QueryRunner['startTransaction']>[0]) {
    if (this.transactionDepth > 0) return baseStart.call(this, isolation);
    if (inHolder()) throw stray('a transaction');
    const release = tryAcquire() ?? (await acquire());
    gate.holder = gate.als?.getStore() ?? {};
    gate.holderSession = this;
    gate.holderSince = Date.now();
    this.gateRelease = release;
    if (gate.queue.length > 0) watch();
    try {
      await baseStart.call(this, isolation);
    } catch (e) {
      finish(this);
      throw e;
    }
  };
  proto.commitTransaction = async function (this: Session) {
    await baseCommit.call(this);
    if (this.transactionDepth === 0) finish(this);
  };
  proto.rollbackTransaction = async function (this: Session) {
    if (this.transactionDepth > 1) {
      try {
        return await baseRollback.call(this);
      } catch (e) {
        if (raw().inTransaction) throw e;
        // SQLite already rolled everything back: the savepoint is gone with it
        this.transactionDepth -= 1;
        return;
      }
    }
    try {
      await baseRollback.call(this);
    } catch {
      // ROLLBACK fails when SQLite already rolled the transaction back itself (a storage fault): no harm done
    } finally {
      finish(this);
    }
  };

  const newSession = (): Session => {
    const s = Object.create(proto) as Session;
    // per-caller state; the connection, driver and statement cache are the base runner's
    const w = s as unknown as Writable;
    w.isReleased = false;
    w.isTransactionActive = false;
    s.transactionDepth = 0;
    // biome-ignore lint/suspicious/noExplicitAny: typeorm's writable internals
    Object.assign(s as any, {
      loadedTables: [],
      loadedViews: [],
      sqlInMemory: { upQueries: [], downQueries: [] },
      sqlMemoryMode: false,
      data: {},
    });
    return s;
  };

  /**
   * Someone waits while a transaction holds the connection: refuse the waiters if that transaction still holds it
   * `holdLimitMs` after it began. Armed only when someone waits (not per transaction); not unref'd, so a stuck
   * transaction cannot let the process exit before its waiters are answered.
   */
  const watch = () => {
    const s = gate.holderSession as Session | undefined;
    if (gate.watch || !s) return;
    gate.watch = setTimeout(
      () => {
        gate.watch = undefined;
        refuseWaiters(s);
      },
      Math.max(0, holdLimitMs - (Date.now() - gate.holderSince)),
    );
  };

  /** The outermost transaction of `s` ended (or never began): the connection is outside any transaction again. */
  const finish = (s: Session) => {
    const holder = gate.holderSession === s;
    if (holder && raw().inTransaction) {
      try {
        raw().exec('ROLLBACK');
      } catch {
        // nothing more can be done here; the next BEGIN reports it
      }
    }
    (s as unknown as Writable).isTransactionActive = false;
    s.transactionDepth = 0;
    if (holder) {
      gate.holder = undefined;
      gate.holderSession = undefined;
      if (gate.watch) {
        clearTimeout(gate.watch);
        gate.watch = undefined;
      }
    }
    const release = s.gateRelease;
    s.gateRelease = undefined;
    release?.();
  };

  driver.createQueryRunner = () => newSession();

  // When checking, transactions begun through the manager carry a token in their async context, so a statement made
  // inside the callback through another manager is recognised (and refused) instead of waiting forever.
  const als = gate.als;
  if (als) {
    const manager = ds.manager as EntityManager;
    const managerTransaction = manager.transaction.bind(manager) as (...a: unknown[]) => Promise<unknown>;
    // biome-ignore lint/suspicious/noExplicitAny: typeorm's overloads
    (manager as any).transaction = (...args: unknown[]) =>
      inHolder() ? managerTransaction(...args) : als.run({}, () => managerTransaction(...args));
  }

  gate.probe = async () => {
    if (!gate.fault) return { ok: true };
    // A write that needs new pages, rolled back: it proves there is room again without leaving anything behind.
    const release = await acquire();
    try {
      const db = raw();
      try {
        db.exec('BEGIN IMMEDIATE');
        db.exec('CREATE TABLE tessera_write_probe (b BLOB)');
        db.exec('INSERT INTO tessera_write_probe VALUES (zeroblob(16384))');
        gate.fault = undefined;
      } catch (e) {
        const f = gate.fault;
        return { ok: false, fault: sqliteCode(e) || f?.code, message: (e as Error).message, since: f?.since };
      } finally {
        if (db.inTransaction) db.exec('ROLLBACK');
      }
      return { ok: true };
    } finally {
      release();
    }
  };
}

/**
 * Whether the database takes writes: always ok on PostgreSQL (connection failures show in a query instead) and on a
 * SQLite store that has seen no storage fault; after one, a write probe decides.
 */
export async function storageHealth(ds: DataSource): Promise<StorageHealth> {
  const gate = gates.get(ds);
  return gate ? gate.probe() : { ok: true };
}
