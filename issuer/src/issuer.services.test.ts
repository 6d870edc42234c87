import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { issuerStoreSuite } from './issuer-suite.js';

// PostgreSQL on 127.0.0.1:5432 with trust auth (user postgres); one fresh database per test, dropped at the end.
const ADMIN_URL = process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const created: string[] = [];

const admin = async <T>(fn: (c: DataSource) => Promise<T>): Promise<T> => {
  const ds = await new DataSource({ type: 'postgres', url: ADMIN_URL }).initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
  }
};

issuerStoreSuite({
  name: 'PostgreSQL',
  freshDatabase: async () => {
    const name = `tessera_issuer_${randomBytes(6).toString('hex')}`;
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    return { url: url.toString() };
  },
  cleanup: () =>
    admin(async (c) => {
      for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }),
});
