import { openDatabase } from '@tessera/contracts';
import { throwawayPostgres } from '@tessera/contracts/testing';
import { offeringServiceSuite } from './service-suite.js';

const pg = throwawayPostgres('tessera_offerings');

offeringServiceSuite(
  'PostgreSQL',
  async (parts) => openDatabase({ url: await pg.create() }, parts),
  async (ds) => {
    await ds.destroy();
    await pg.drop();
  },
);
