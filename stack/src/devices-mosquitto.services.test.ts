import { throwawayPostgres } from '@tessera/contracts/testing';
import { type MosquittoInstance, startMosquitto } from '@tessera/verifier';
import { stackDevicesSuite } from './devices-suite.js';

// The stack on an external Mosquitto 2 with dynamic security (TESSERA_MQTT_URL): no embedded broker; the handshake
// responder and the revocation watcher manage the devices through the broker's dynsec API.
const redisUrl = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pg = throwawayPostgres('tessera_stack_mosquitto');
let mosquitto: MosquittoInstance | undefined;

stackDevicesSuite('an external Mosquitto with dynamic security, PostgreSQL and Redis', {
  env: async () => {
    mosquitto = await startMosquitto();
    return {
      TESSERA_DATABASE_URL: await pg.create(),
      TESSERA_REDIS_URL: redisUrl,
      TESSERA_MQTT_URL: mosquitto.url,
      TESSERA_MQTT_ADMIN_USERNAME: mosquitto.admin.username,
      TESSERA_MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
    };
  },
  cleanup: async () => {
    await mosquitto?.stop();
    await pg.drop();
  },
});
