import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@tessera/contracts';
import { offeringServiceSuite } from './service-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-offerings-'));
offeringServiceSuite(
  'SQLite',
  (parts) => openDatabase({ sqlitePath: join(dir, 'offerings.sqlite') }, parts),
  async (ds) => {
    await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  },
);
