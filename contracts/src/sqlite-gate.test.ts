import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TesseraError } from '@tessera/protocol';
import { EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';
import { openDatabase } from './db.js';
import { storageHealth } from './sqlite-gate.js';

interface Row {
  id: string;
  body: string;
}
const RowEntity = new EntitySchema<Row>({
  name: 'GateRow',
  tableName: 'gate_row',
  columns: { id: { type: String, primary: true }, body: { type: String } },
});
class GateRowMigration1700000000099 implements MigrationInterface {
  name = 'GateRowMigration1700000000099';
  async up(q: QueryRunner) {
    await q.query('CREATE TABLE gate_row (id varchar PRIMARY KEY NOT NULL, body varchar NOT NULL)');
  }
  async down(q: QueryRunner) {
    await q.query('DROP TABLE gate_row');
  }
}
const parts = { entities: [RowEntity], migrations: [GateRowMigration1700000000099] };

/** Open with the gate's check on ('1') or off (undefined), whatever the environment says. */
async function openGated(sqlitePath: string, check: '1' | undefined, sqliteHoldLimitMs?: number) {
  const before = process.env.TESSERA_SQLITE_GATE_CHECK;
  if (check) process.env.TESSERA_SQLITE_GATE_CHECK = check;
  else delete process.env.TESSERA_SQLITE_GATE_CHECK;
  try {
    return await openDatabase({ sqlitePath, ...(sqliteHoldLimitMs ? { sqliteHoldLimitMs } : {}) }, parts);
  } finally {
    if (before === undefined) delete process.env.TESSERA_SQLITE_GATE_CHECK;
    else process.env.TESSERA_SQLITE_GATE_CHECK = before;
  }
}

describe('SQLite: one connection, transactions serialized, storage faults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-gate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged write when the page limit is reached under concurrent writers', async () => {
    const path = join(dir, 'full.sqlite');
    const ds = await openDatabase({ sqlitePath: path, sqliteMaxPages: 60 }, parts);
    const body = 'x'.repeat(1500);
    const acked: string[] = [];
    const refused: string[] = [];
    const write = async (i: number) => {
      try {
        if (i % 3 === 0) {
          // a plain save (its own transaction) racing the others
          await ds.getRepository(RowEntity).save({ id: `s${i}`, body });
          acked.push(`s${i}`);
        } else {
          await ds.transaction(async (m) => {
            await m.getRepository(RowEntity).insert({ id: `a${i}`, body });
            await new Promise((r) => setImmediate(r));
            await m.getRepository(RowEntity).insert({ id: `b${i}`, body });
          });
          acked.push(`a${i}`, `b${i}`);
        }
      } catch (e) {
        assert.ok(e instanceof TesseraError, `a storage fault is a coded error, not ${(e as Error).message}`);
        assert.equal(e.code, 'ERR_STORAGE_UNAVAILABLE');
        refused.push(String(i));
      }
    };
    await Promise.all(Array.from({ length: 300 }, (_, i) => write(i)));
    assert.ok(refused.length > 0, 'the page limit was reached');
    assert.ok(acked.length > 10, 'writes were acknowledged before the limit');
    const h = await storageHealth(ds);
    assert.equal(h.ok, false);
    assert.match(h.fault ?? '', /^SQLITE_FULL/);

    // a write after the faults is not swallowed by a transaction left open
    await ds.query('PRAGMA max_page_count = 100000');
    assert.deepEqual(await storageHealth(ds), { ok: true });
    await ds.getRepository(RowEntity).save({ id: 'after', body: 'y' });
    acked.push('after');
    await ds.destroy();

    const again = await openDatabase({ sqlitePath: path }, parts);
    const ids = new Set((await again.getRepository(RowEntity).find()).map((r) => r.id));
    const missing = acked.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged rows are gone after a reopen`);
    for (const i of refused) {
      // an atomic pair is either both there or neither
      assert.equal(ids.has(`a${i}`), ids.has(`b${i}`));
    }
    await again.destroy();
  });

  it('refuses at once, when checking, a statement a transaction callback makes through the data source manager', async () => {
    const ds = await openGated(join(dir, 'check.sqlite'), '1');
    const order: string[] = [];
    const outside = (async () => {
      await new Promise((r) => setImmediate(r));
      await ds.getRepository(RowEntity).save({ id: 'outside', body: '' });
      order.push('outside');
    })();
    await assert.rejects(
      ds.transaction(async (m) => {
        await m.getRepository(RowEntity).insert({ id: 'in', body: '' });
        await new Promise((r) => setTimeout(r, 20));
        order.push('tx');
        // the mistake: the data source's manager inside a callback
        await ds.getRepository(RowEntity).insert({ id: 'stray', body: '' });
      }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_INTERNAL' && /callback's manager/.test(e.message),
    );
    await assert.rejects(
      ds.transaction(async () => {
        await ds.transaction(async (n) => n.getRepository(RowEntity).insert({ id: 'nested', body: '' }));
      }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_INTERNAL',
    );
    await outside;
    assert.deepEqual(order, ['tx', 'outside']);
    const ids = (await ds.getRepository(RowEntity).find()).map((r) => r.id).sort();
    assert.deepEqual(ids, ['outside'], 'the transaction rolled back as a whole; the statement outside it ran after it');
    await ds.destroy();
  });

  it('without the check, refuses what waits for a transaction held past the limit, and serves again', async () => {
    // the gate as production runs it, whatever the environment says
    const ds = await openGated(join(dir, 'hold.sqlite'), undefined, 300);
    const t0 = Date.now();
    let held!: () => void;
    const holding = new Promise<void>((r) => {
      held = r;
    });
    const tx = ds.transaction(async (m) => {
      await m.getRepository(RowEntity).insert({ id: 'in', body: '' });
      held();
      // the mistake: waits for its own transaction
      await ds.getRepository(RowEntity).insert({ id: 'stray', body: '' });
    });
    await holding;
    // a statement that arrives while the stuck transaction holds the connection waits with the stray one
    const waiting = ds.getRepository(RowEntity).insert({ id: 'waiting', body: '' });
    const refused = (e: unknown) => e instanceof TesseraError && e.code === 'ERR_STORAGE_UNAVAILABLE';
    await assert.rejects(tx, refused);
    await assert.rejects(waiting, refused);
    const waited = Date.now() - t0;
    assert.ok(waited >= 250, `refused after the hold limit, not before (${waited} ms)`);
    // nothing of the transaction is left, and the store serves again
    await ds.getRepository(RowEntity).save({ id: 'after', body: '' });
    const ids = (await ds.getRepository(RowEntity).find()).map((r) => r.id).sort();
    assert.deepEqual(ids, ['after']);
    await ds.destroy();
  });
});
