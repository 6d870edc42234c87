import { randomBytes } from 'node:crypto';
import { openDatabase } from '@tessera/contracts';
import { exchangeServiceSuite } from './service-suite.js';

// A throw-away database per run on the machine's PostgreSQL (trust auth).
const admin = process.env.TESSERA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `tessera_exchange_${randomBytes(4).toString('hex')}`;
const onAdmin = async (sql: string) => {
  const ds = await openDatabase({ url: admin }, { entities: [], migrations: [] });
  try {
    await ds.query(sql);
  } finally {
    await ds.destroy();
  }
};

exchangeServiceSuite('PostgreSQL', {
  openDb: async (parts) => {
    await onAdmin(`CREATE DATABASE ${name}`);
    return openDatabase({ url: admin.replace(/\/[^/]*$/, `/${name}`) }, parts);
  },
  closeDb: async (ds) => {
    await ds.destroy();
    await onAdmin(`DROP DATABASE IF EXISTS ${name}`);
  },
});
