import { openDatabase } from '@tessera/contracts';
import { throwawayPostgres } from '@tessera/contracts/testing';
import { exchangeServiceSuite } from './service-suite.js';

const pg = throwawayPostgres('tessera_exchange');

exchangeServiceSuite('PostgreSQL', {
  openDb: async (parts) => openDatabase({ url: await pg.create() }, parts),
  closeDb: async (ds) => {
    await ds.destroy();
    await pg.drop();
  },
});
