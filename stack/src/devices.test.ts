import { stackDevicesSuite } from './devices-suite.js';

// On the embedded defaults (SQLite, in-process challenge store and limiter); devices.services.test.ts runs the same
// on PostgreSQL and Redis.
stackDevicesSuite('the embedded defaults');
