import { TesseraError } from '@tessera/protocol';
import { DataSource, type DataSourceOptions, type EntitySchema, type MixedList } from 'typeorm';
import { touchPrivate } from '@tessera/runtime';
import { installSqliteGate } from './sqlite-gate.js';

export interface DatabaseConfig {
  /** `postgres://…` selects PostgreSQL; otherwise `sqlitePath` is used. */
  url?: string;
  sqlitePath?: string;
  /**
   * SQLite only: the most pages the file may grow to (`PRAGMA max_page_count`); a write past it fails as a full disk
   * would. For tests of a full store; unset, SQLite's own limit.
   */
  sqliteMaxPages?: number;
  /**
   * SQLite only: how long one transaction may hold the connection before the statements waiting for it are refused
   * with ERR_STORAGE_UNAVAILABLE (default SQLITE_HOLD_LIMIT_MS, 30 s; see sqlite-gate.ts). For tests.
   */
  sqliteHoldLimitMs?: number;
}

export interface DatabaseParts {
  // biome-ignore lint/complexity/noBannedTypes: typeorm's own entity/migration list types
  entities: MixedList<Function | string | EntitySchema>;
  // biome-ignore lint/complexity/noBannedTypes: typeorm's own entity/migration list types
  migrations: MixedList<Function | string>;
}

/** Which engine a DataSource runs on; SQL that differs between the two branches on it. */
export const dialectOf = (ds: DataSource): 'sqlite' | 'postgres' =>
  ds.options.type === 'postgres' ? 'postgres' : 'sqlite';

/**
 * Open the one database of a process (SQLite file by default, PostgreSQL when a URL is given) with every part's
 * entities and migrations, and run pending migrations. Schema changes only ever happen through migrations,
 * never `synchronize`.
 */
export async function openDatabase(config: DatabaseConfig, parts: DatabaseParts): Promise<DataSource> {
  let options: DataSourceOptions;
  if (config.url) {
    if (!/^postgres(ql)?:\/\//.test(config.url)) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        'TESSERA_DATABASE_URL must start with postgres:// (SQLite is the default)',
      );
    }
    options = {
      type: 'postgres',
      url: config.url,
      entities: parts.entities,
      migrations: parts.migrations,
      migrationsRun: false,
      synchronize: false,
      logging: false,
      extra: { max: 10, connectionTimeoutMillis: 5000 },
    };
  } else {
    if (!config.sqlitePath)
      throw new TesseraError('ERR_CONFIG_INVALID', 'either a database URL or a SQLite path is required');
    // Private from the first byte: SQLite creates the -wal and -shm files with the database file's mode.
    if (config.sqlitePath !== ':memory:') touchPrivate(config.sqlitePath);
    options = {
      type: 'better-sqlite3',
      database: config.sqlitePath,
      entities: parts.entities,
      migrations: parts.migrations,
      migrationsRun: false,
      synchronize: false,
      logging: false,
      prepareDatabase: (db: { pragma(s: string): unknown }) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('busy_timeout = 5000');
        db.pragma('foreign_keys = ON');
        if (config.sqliteMaxPages) db.pragma(`max_page_count = ${Math.floor(config.sqliteMaxPages)}`);
      },
    };
  }
  const ds = new DataSource(options);
  try {
    await ds.initialize();
  } catch (cause) {
    throw new TesseraError('ERR_UNAVAILABLE', `database could not be opened: ${(cause as Error).message}`, { cause });
  }
  // One connection shared by every store: transactions are serialized on it, never nested (see sqlite-gate.ts).
  if (options.type === 'better-sqlite3')
    installSqliteGate(ds, config.sqliteHoldLimitMs === undefined ? {} : { holdLimitMs: config.sqliteHoldLimitMs });
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}
