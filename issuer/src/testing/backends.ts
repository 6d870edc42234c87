import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { StoreBackend } from '../issuer-suite.js';

/** PostgreSQL on 127.0.0.1:5432 with trust auth (user postgres): a fresh database per test, all dropped at cleanup. */
export function postgresBackend(): StoreBackend {
  const adminUrl = process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const created: string[] = [];
  const admin = async <T>(fn: (c: DataSource) => Promise<T>): Promise<T> => {
    const ds = await new DataSource({ type: 'postgres', url: adminUrl }).initialize();
    try {
      return await fn(ds);
    } finally {
      await ds.destroy();
    }
  };
  return {
    name: 'PostgreSQL',
    async freshDatabase() {
      const name = `tessera_issuer_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      created.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return { url: url.toString() };
    },
    cleanup: () =>
      admin(async (c) => {
        for (const name of created.splice(0)) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** SQLite in each test's data directory. */
export function sqliteBackend(): StoreBackend {
  return {
    name: 'SQLite',
    freshDatabase: async (dataDir) => ({ sqlitePath: `${dataDir}/issuer.sqlite` }),
    cleanup: async () => {},
  };
}
