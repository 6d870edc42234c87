import { Redis } from 'ioredis';
import { RedisHandshakeLimiter } from './limiter.js';
import { handshakeLimiterConformance } from './limiter.suite.js';

// Two replicas: two RedisHandshakeLimiter instances on separate connections to the real Redis.
handshakeLimiterConformance('Redis, two replicas', async (limits) => {
  const url = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `tessera-test-hs:${process.pid}:${Date.now()}:`;
  const ra = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  const rb = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await Promise.all([ra.connect(), rb.connect()]);
  return {
    a: new RedisHandshakeLimiter(ra, { limits, prefix }),
    b: new RedisHandshakeLimiter(rb, { limits, prefix }),
    close: async () => {
      const keys = await ra.keys(`${prefix}*`);
      if (keys.length > 0) await ra.del(...keys);
      await Promise.all([ra.quit(), rb.quit()]);
    },
  };
});
