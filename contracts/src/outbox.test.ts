import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './db.js';
import { outboxDatabaseParts } from './outbox.js';
import { outboxSuite } from './outbox-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-outbox-'));
outboxSuite(
  'SQLite',
  () => openDatabase({ sqlitePath: join(dir, 'outbox.sqlite') }, outboxDatabaseParts),
  async (ds) => {
    await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  },
);
