/**
 * A database that closes: the stack runs on PostgreSQL (this machine's, a throw-away database) reached through a TCP
 * relay the test owns; closing the relay drops every connection and refuses new ones. Requests then answer a coded
 * 503 ERR_UNAVAILABLE (the guard's status check included; never ERR_INTERNAL nor ERR_VC_STATUS_UNAVAILABLE), `/healthz` is red, and once the relay is back the stack recovers by itself:
 * health green, writes accepted, every acknowledged credential in the database exactly once.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openDatabase } from '@tessera/contracts';
import { throwawayPostgres } from '@tessera/contracts/testing';
import { ethrDid } from '@tessera/protocol';
import { issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { faultReport } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('database');
const pg = throwawayPostgres('tessera_faults');
after(() => pg.drop());

/** A TCP relay to PostgreSQL that the test opens and closes (closing drops every connection through it). */
function relay(initialPort: number) {
  let port = initialPort;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    open: () =>
      new Promise<number>((resolve, reject) => {
        server = createServer((client) => {
          const upstream = connect(5432, '127.0.0.1');
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => s.destroy());
          }
          client.pipe(upstream).pipe(client);
        });
        server.once('error', reject);
        server.unref();
        server.listen(port, '127.0.0.1', () => {
          port = (server!.address() as { port: number }).port;
          resolve(port);
        });
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server?.close(r));
    },
  };
}

describe('faults: the database closes (PostgreSQL behind a relay that stops)', () => {
  it('answers 503 ERR_UNAVAILABLE, reports it in /healthz, and recovers by itself with nothing lost', async () => {
    const url = await pg.create();
    const r = relay(0);
    const port = await r.open();
    const via = url.replace('127.0.0.1:5432', `127.0.0.1:${port}`);
    const dir = tmp();
    const s = await start(dir, { TESSERA_DATABASE_URL: via });
    const issuer = `${s.http}/issuer`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));
    const acked: string[] = [];
    const issue = async () => {
      const res = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: {
          type: 'OperatorCredential',
          subject: ethrDid(31337, Wallet.createRandom().address),
          claims: { name: 'db fault' },
        },
      });
      if (res.status === 201) acked.push(res.json.id);
      return res;
    };
    for (let i = 0; i < 5; i++) assert.equal((await issue()).status, 201);
    // every GET route of the stack's document without path parameters, asked again while the database is closed
    const doc = (await (await fetch(`${s.http}/openapi.json`)).json()) as { paths: Record<string, object> };
    const gets = Object.entries(doc.paths)
      .filter(([p, ops]) => 'get' in ops && !p.includes('{') && !/events|stream|healthz|metrics/.test(p))
      .map(([p]) => p);
    assert.ok(gets.length > 5, `the document lists GET routes: ${gets.length}`);

    await r.close();
    report.inject('database-closed');
    const codes = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      const res = await issue();
      const k = `${res.status} ${res.json?.error?.code}`;
      codes.set(k, (codes.get(k) ?? 0) + 1);
    }
    // the route's guard reads the token's status list first: a list it cannot read because the database is closed
    // names the database (ERR_UNAVAILABLE), not the status list
    const allowed = new Set(['503 ERR_UNAVAILABLE']);
    assert.deepEqual(
      [...codes.keys()].filter((k) => !allowed.has(k)),
      [],
      `a closed database is a coded 503, never ERR_INTERNAL: ${JSON.stringify([...codes])}`,
    );
    report.check('refusals-coded-503', 5);
    // everywhere else: a route that needs the database answers 503 ERR_UNAVAILABLE, never a 500 or another 503
    const wrong: string[] = [];
    let unavailable = 0;
    for (const p of gets) {
      const res = await fetch(`${s.http}${p}`, { headers: { authorization: `Bearer ${admin}` } });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      if (res.status === 503 && body.error?.code === 'ERR_UNAVAILABLE') unavailable++;
      else if (res.status >= 500) wrong.push(`${p} ${res.status} ${body.error?.code}`);
    }
    assert.deepEqual(wrong, [], 'every route answers a closed database with 503 ERR_UNAVAILABLE');
    report.check('routes-503-or-served', gets.length);
    report.check('routes-503-unavailable', unavailable);
    // sign-in checks the admin credential's status list, held in the database: it names the database too
    const login = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json'))).then(
      () => 'ok',
      (e: { code?: string }) => String(e.code),
    );
    assert.match(login, /^(ok|ERR_UNAVAILABLE)$/, `sign-in while the database is closed: ${login}`);
    report.check('sign-in-names-the-database');
    const red = await health(s.http);
    assert.equal(red.status, 503);
    assert.equal(red.body.parts.database?.ok, false);
    report.check('health-red-while-closed');

    await r.open().then((p) => assert.equal(p, port));
    let green = await health(s.http);
    for (let i = 0; i < 40 && green.status !== 200; i++) {
      await new Promise((res) => setTimeout(res, 250));
      green = await health(s.http);
    }
    assert.equal(green.status, 200, JSON.stringify(green.body.parts.database));
    report.check('health-green-after-reopen');
    assert.equal((await issue()).status, 201);
    s.child.kill('SIGKILL');
    report.inject('kill-9');

    const ds = await openDatabase({ url }, { entities: [], migrations: [] });
    try {
      const rows = (await ds.query('SELECT id FROM issuer_credentials')) as { id: string }[];
      const n = new Map<string, number>();
      for (const row of rows) n.set(row.id, (n.get(row.id) ?? 0) + 1);
      assert.deepEqual(
        acked.filter((id) => n.get(id) !== 1),
        [],
        'every acknowledged credential is in the database once',
      );
      report.check('acknowledged-credentials-present-once', acked.length);
    } finally {
      await ds.destroy();
    }
    await r.close();
  });
});
