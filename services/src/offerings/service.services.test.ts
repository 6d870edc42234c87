import { randomBytes } from 'node:crypto';
import { openDatabase } from '@tessera/contracts';
import { offeringServiceSuite } from './service-suite.js';

// A throw-away database per run on the machine's PostgreSQL (trust auth).
const admin = process.env.TESSERA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `tessera_offerings_${randomBytes(4).toString('hex')}`;
const onAdmin = async (sql: string) => {
  const ds = await openDatabase({ url: admin }, { entities: [], migrations: [] });
  try {
    await ds.query(sql);
  } finally {
    await ds.destroy();
  }
};

offeringServiceSuite(
  'PostgreSQL',
  async (parts) => {
    await onAdmin(`CREATE DATABASE ${name}`);
    return openDatabase({ url: admin.replace(/\/[^/]*$/, `/${name}`) }, parts);
  },
  async (ds) => {
    await ds.destroy();
    await onAdmin(`DROP DATABASE IF EXISTS ${name}`);
  },
);
