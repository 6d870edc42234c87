import { randomBytes } from 'node:crypto';
import { openDatabase } from './db.js';

/**
 * Test support (`@tessera/contracts/testing`): a throw-away database on the machine's PostgreSQL (trust auth;
 * TESSERA_TEST_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres), created on demand and dropped
 * (with its connections) at the end.
 */
export function throwawayPostgres(prefix: string): { create(): Promise<string>; drop(): Promise<void> } {
  const admin = process.env.TESSERA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  if (!/^[a-z][a-z0-9_]{0,50}$/.test(name)) throw new Error(`invalid database name ${name}`);
  const onAdmin = async (sql: string) => {
    const ds = await openDatabase({ url: admin }, { entities: [], migrations: [] });
    try {
      await ds.query(sql);
    } finally {
      await ds.destroy();
    }
  };
  return {
    async create() {
      await onAdmin(`CREATE DATABASE ${name}`);
      return admin.replace(/\/[^/]*$/, `/${name}`);
    },
    drop: () => onAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
