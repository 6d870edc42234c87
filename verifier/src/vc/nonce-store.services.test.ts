import { Redis } from 'ioredis';
import { RedisNonceStore } from './nonce-store.js';
import { nonceStoreConformance } from './nonce-store.suite.js';

// Two replicas: two RedisNonceStore instances on two separate connections to the real Redis on 127.0.0.1:6379.
nonceStoreConformance('Redis, two replicas', async () => {
  const url = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `tessera-test:${process.pid}:${Date.now()}:`;
  const ra = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  const rb = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await Promise.all([ra.connect(), rb.connect()]);
  return {
    a: new RedisNonceStore(ra, { prefix }),
    b: new RedisNonceStore(rb, { prefix }),
    close: async () => {
      const keys = await ra.keys(`${prefix}*`);
      if (keys.length > 0) await ra.del(...keys);
      await Promise.all([ra.quit(), rb.quit()]);
    },
  };
});
