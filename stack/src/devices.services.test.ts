import assert from 'node:assert/strict';
import { throwawayPostgres } from '@tessera/contracts/testing';
import { Redis } from 'ioredis';
import { stackDevicesSuite } from './devices-suite.js';

// The stack on PostgreSQL (a throw-away database) and Redis: handshake challenges and rate limits live in Redis, so
// they hold across replicas sharing it.
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pg = throwawayPostgres('tessera_stack');

stackDevicesSuite('PostgreSQL and Redis', {
  env: async () => ({ TESSERA_DATABASE_URL: await pg.create(), TESSERA_REDIS_URL: redisUrl }),
  cleanup: () => pg.drop(),
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
