import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type JsonRpcProvider, Wallet, parseEther } from 'ethers';
import type { DataSource } from 'typeorm';
import { ANVIL_FUNDER_KEY, type AnvilChain, startAnvil } from './anvil.js';
import { makeProvider } from './chain.js';
import { openDatabase } from './db.js';
import { type PlainERC20, PlainERC20__factory } from './generated/index.js';
import { Outbox, type OutboxHooks, type OutboxRow, outboxDatabaseParts } from './outbox.js';
import { recipientOf } from './outbox-replica.worker.js';
import { throwawayPostgres } from './throwaway-postgres.js';

/**
 * Several replicas' outboxes on one PostgreSQL and one chain, sharing one relayer account: one sender at a time
 * (a lease with a fencing token), the others enqueue; a replica killed -9 while it is the sender is taken over.
 */
const WORKER = join(import.meta.dirname, 'outbox-replica.worker.ts');
const LEASE_MS = 2000;

describe('outbox replicas on one PostgreSQL', () => {
  const pg = throwawayPostgres('tessera_outbox_replicas');
  let url: string;
  let chain: AnvilChain;
  let provider: JsonRpcProvider;
  let db: DataSource;
  let token: PlainERC20;
  const relayer = new Wallet(Wallet.createRandom().privateKey);
  const children: ChildProcess[] = [];
  const iface = PlainERC20__factory.createInterface();
  const mint = (key: string) => ({
    kind: 'mint',
    to: token.target as string,
    data: iface.encodeFunctionData('mint', [recipientOf(key), 1n]),
  });
  const outbox = (holder: string, hooks?: OutboxHooks) =>
    new Outbox({
      dataSource: db,
      signer: relayer.connect(provider),
      provider,
      chainId: chain.chainId,
      batchSize: 20,
      lease: { ttlMs: LEASE_MS, holder },
      ...(hooks ? { hooks } : {}),
    });

  before(async () => {
    url = await pg.create();
    chain = await startAnvil({ blockTimeSeconds: 1 }); // writes wait for a block, as on a real chain
    provider = makeProvider(chain.rpcUrl, chain.chainId);
    db = await openDatabase({ url }, outboxDatabaseParts);
    const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
    await (await funder.sendTransaction({ to: relayer.address, value: parseEther('100') })).wait();
    token = await new PlainERC20__factory(relayer.connect(provider)).deploy('Euro', 'EUR');
    await token.waitForDeployment();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await db?.destroy();
    provider?.destroy();
    await chain?.stop();
    await pg.drop();
  });

  const worker = (name: string, count: number) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: {
        ...process.env,
        TEST_CHAIN_ID: String(chain.chainId),
        TEST_RPC_URL: chain.rpcUrl,
        TEST_DATABASE_URL: url,
        TEST_RELAYER_KEY: relayer.privateKey,
        TEST_LEASE_MS: String(LEASE_MS),
        TEST_NAME: name,
        TEST_TOKEN: token.target as string,
        TEST_COUNT: String(count),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const until = async (test: (out: string) => boolean, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!test(out)) {
        if (child.exitCode !== null && !test(out)) throw new Error(`${name} exited ${child.exitCode}: ${err}`);
        if (Date.now() > deadline) throw new Error(`${name}: timed out; out=${out.slice(-500)} err=${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const acks = () => [...out.matchAll(/^ack (\S+)$/gm)].map((m) => m[1]!);
    return { child, exit, until, acks, err: () => err };
  };

  const rows = () => db.getRepository<OutboxRow>('OutboxRow').find();

  it('a paused sender that lost its lease cannot take a nonce: the fence refuses it and the write is sent once', async () => {
    let q: Outbox | undefined;
    const p = outbox('paused', {
      beforeMarkSigned: async () => {
        // P has signed locally; it "pauses" past its lease, Q takes over and sends the same write.
        await db.query("UPDATE tessera_outbox_lease SET expires_at = now() - interval '1 second'");
        q = outbox('taker');
        assert.equal(await q.flush(), 1, 'the new holder sent it');
      },
    });
    await p.enqueue('fence:1', mint('fence:1'));
    assert.equal(await p.flush(), 0, 'the paused sender marked nothing signed and sent nothing');
    const row = await q!.get('fence:1');
    assert.equal(row?.status, 'mined');
    assert.equal(await token.balanceOf(recipientOf('fence:1')), 1n);
    assert.equal(p.isSender, false);
    assert.equal(q!.isSender, true);
    await p.stop();
    await q!.stop();
  });

  it('200 concurrent writes over two replicas, the sender killed -9 mid-way: each written exactly once, no nonce reused, nothing left signed', async () => {
    const started = Date.now();
    // B starts first and becomes the sender; A (in this process) enqueues and waits.
    const b = worker('b', 100);
    await b.until((o) => o.includes('leader'));
    const a = outbox('a');
    await a.reconcile();
    a.start(100);
    const aKeys = Array.from({ length: 100 }, (_, i) => `mint:a:${i}`);
    const aDone = Promise.all(aKeys.map((k) => a.submit(k, mint(k))));
    await b.until((o) => (o.match(/^ack /gm)?.length ?? 0) >= 5);
    b.child.kill('SIGKILL');
    await b.exit;
    const bAcked = b.acks();
    const killedAt = Date.now() - started;
    const open = (await rows()).filter((r) => r.status === 'pending' || r.status === 'signed').length;
    assert.ok(open > 0, 'the sender died with writes still open');
    const takeover = Date.now();
    while (!a.isSender) {
      assert.ok(Date.now() - takeover < LEASE_MS + 3000, 'A takes the lease over once it expires');
      await new Promise((r) => setTimeout(r, 20));
    }
    const tookOverAfter = Date.now() - takeover;

    const aRows = await aDone;
    assert.ok(
      aRows.every((r) => r.status === 'mined'),
      'every write of A was mined after the takeover',
    );

    // B restarts (a new process, same name): it enqueues through A, the sender, and waits for the outcome.
    const b2 = worker('b2', 20);
    await b2.until((o) => o.includes('done'));
    assert.equal(b2.acks().length, 20, 'the restarted replica got all its writes acknowledged through the sender');
    await b2.exit;
    await a.flush();

    const all = await rows();
    const by = (s: string) => all.filter((r) => r.status === s);
    assert.equal(by('signed').length, 0, 'no row left signed');
    assert.equal(by('pending').length, 0, 'no row left pending');
    assert.equal(by('failed').length, 0, 'no write failed');
    const mined = by('mined').filter((r) => r.kind === 'mint' && r.id.startsWith('mint:'));
    const minedIds = new Set(mined.map((r) => r.id));
    for (const k of [...aKeys, ...bAcked]) assert.ok(minedIds.has(k), `acknowledged ${k} is mined`);
    // exactly once on chain per row, and nothing else minted: money conserved between the table and the chain
    for (const r of mined) assert.equal(await token.balanceOf(recipientOf(r.id)), 1n, `${r.id} minted once`);
    const supply = await token.totalSupply();
    const fenceRows = all.filter((r) => r.id.startsWith('fence:')).length;
    assert.equal(supply, BigInt(mined.length + fenceRows), 'total supply = mined rows');
    const nonces = all.filter((r) => r.status === 'mined').map((r) => r.nonce);
    assert.equal(new Set(nonces).size, nonces.length, 'no nonce used twice');
    // the relayer's transactions: the deploy plus one per mined row, no more
    assert.equal(await provider.getTransactionCount(relayer.address, 'latest'), 1 + nonces.length);
    const acknowledged = aKeys.length + bAcked.length + 20;
    console.log(
      `outbox replicas: ${mined.length} writes mined once (${acknowledged} acknowledged, ${mined.length - acknowledged} in flight at the kill -9 finished by the new sender), supply ${supply}; killed at ${killedAt} ms with ${open} rows open, taken over ${tookOverAfter} ms later, all final after ${Date.now() - started} ms`,
    );
    await a.stop();
  });
});
