import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase } from './db.js';
import { outboxDatabaseParts } from './outbox.js';
import { outboxSuite } from './outbox-suite.js';

// A throw-away database per run on the machine's PostgreSQL (trust auth).
const admin = process.env.TESSERA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `tessera_outbox_${randomBytes(4).toString('hex')}`;

outboxSuite(
  'PostgreSQL',
  async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    return openDatabase({ url: admin.replace(/\/[^/]*$/, `/${name}`) }, outboxDatabaseParts);
  },
  async (ds) => {
    await ds.destroy();
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name}`);
    await c.end();
  },
);
