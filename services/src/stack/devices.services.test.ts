import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openDatabase } from '@tessera/contracts';
import { Redis } from 'ioredis';
import { stackDevicesSuite } from './devices-suite.js';

// The stack on PostgreSQL (a throw-away database) and Redis: handshake challenges and rate limits live in Redis, so
// they hold across replicas sharing it.
const admin = process.env.TESSERA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `tessera_stack_${randomBytes(4).toString('hex')}`;
const onAdmin = async (sql: string) => {
  const ds = await openDatabase({ url: admin }, { entities: [], migrations: [] });
  try {
    await ds.query(sql);
  } finally {
    await ds.destroy();
  }
};

stackDevicesSuite('PostgreSQL and Redis', {
  env: async () => {
    await onAdmin(`CREATE DATABASE ${name}`);
    return { TESSERA_DATABASE_URL: admin.replace(/\/[^/]*$/, `/${name}`), TESSERA_REDIS_URL: redisUrl };
  },
  cleanup: () => onAdmin(`DROP DATABASE IF EXISTS ${name}`),
  afterSession: async (stack, deviceId) => {
    assert.equal((await stack.health()).parts.database?.dialect, 'postgres');
    const redis = new Redis(redisUrl);
    try {
      // the handshake's rate-limit window for this device is kept in Redis, not in the process
      const keys = await redis.keys(`tessera:hs-limit:n:*${deviceId.slice(2, 18)}*`);
      assert.ok(keys.length > 0, 'the handshake limiter wrote to Redis');
    } finally {
      redis.disconnect();
    }
  },
});
