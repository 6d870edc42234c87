import { join } from 'node:path';
import { issuerStoreSuite } from './issuer-suite.js';

issuerStoreSuite({
  name: 'SQLite',
  freshDatabase: async (dataDir) => ({ sqlitePath: join(dataDir, 'issuer.sqlite') }),
  cleanup: async () => {},
});
