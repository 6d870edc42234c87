import { openDatabase } from '@tessera/contracts';
import { throwawayPostgres } from '@tessera/contracts/testing';
import { whiteflagListenerSuite } from './listener-suite.js';

const pg = throwawayPostgres('tessera_whiteflag');
whiteflagListenerSuite('PostgreSQL', {
  openDb: async (parts) => openDatabase({ url: await pg.create() }, parts),
  closeDb: async (ds) => {
    await ds.destroy();
    await pg.drop();
  },
});
