import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { ANVIL_FUNDER_KEY, type AnvilChain, startAnvil } from './anvil.js';
import { makeProvider } from './chain.js';
import { TesseraAnchor__factory } from './generated/index.js';
import { Outbox, type OutboxHooks } from './outbox.js';

/**
 * The outbox conformance suite, run against every database the stack supports (SQLite in `npm test`,
 * PostgreSQL in `npm run test:services`). Crashes are injected with hooks that throw at an exact point.
 */
export function outboxSuite(
  name: string,
  openDb: () => Promise<DataSource>,
  closeDb: (ds: DataSource) => Promise<void>,
) {
  describe(`outbox on ${name}`, () => {
    let chain: AnvilChain;
    let db: DataSource;
    let anchorAddress: string;
    const provider = () => makeProvider(chain.rpcUrl, chain.chainId);
    const signer = new Wallet(ANVIL_FUNDER_KEY);
    const anchorIface = TesseraAnchor__factory.createInterface();
    const trail = `0x${'ab'.repeat(32)}`;
    const anchorWrite = (seq: number) => ({
      kind: 'anchor',
      to: anchorAddress,
      data: anchorIface.encodeFunctionData('anchor', [trail, seq, `0x${seq.toString(16).padStart(64, '0')}`]),
    });
    const outbox = (hooks?: OutboxHooks) => {
      const p = provider();
      return new Outbox({
        dataSource: db,
        signer: signer.connect(p),
        provider: p,
        chainId: chain.chainId,
        ...(hooks ? { hooks } : {}),
      });
    };
    const head = async () => {
      const c = TesseraAnchor__factory.connect(anchorAddress, provider());
      return Number((await c.headOf(trail)).seq);
    };
    const anchoredEvents = async () => {
      const c = TesseraAnchor__factory.connect(anchorAddress, provider());
      return (await c.queryFilter(c.filters.Anchored(trail))).length;
    };

    before(async () => {
      chain = await startAnvil({});
      db = await openDb();
      const factory = new TesseraAnchor__factory(signer.connect(provider()));
      const c = await factory.deploy();
      await c.waitForDeployment();
      anchorAddress = (await c.getAddress()).toLowerCase();
    });
    after(async () => {
      await closeDb(db);
      await chain.stop();
    });

    it('records an intent once per key and mines it once', async () => {
      const ob = outbox();
      const a = await ob.enqueue('t:1', anchorWrite(1));
      const b = await ob.enqueue('t:1', anchorWrite(1));
      assert.equal(a.id, b.id);
      const row = await ob.submit('t:1', anchorWrite(1));
      assert.equal(row.status, 'mined');
      assert.equal(await head(), 1);
      const again = await ob.submit('t:1', anchorWrite(1));
      assert.equal(again.txHash, row.txHash, 'submitting the same key again sends nothing');
      assert.equal(await anchoredEvents(), 1);
    });

    it('a crash after signing and before sending is finished at start, exactly once', async () => {
      const crashing = outbox({
        afterSign: () => {
          throw new Error('crash after sign');
        },
      });
      await crashing.enqueue('t:2', anchorWrite(2));
      await assert.rejects(crashing.flush(), /crash after sign/);
      assert.equal((await crashing.get('t:2'))?.status, 'signed');
      assert.equal(await head(), 1, 'nothing reached the chain');

      const restarted = outbox();
      const stats = await restarted.reconcile();
      assert.equal(stats.resent, 1);
      const row = await restarted.get('t:2');
      assert.equal(row?.status, 'mined');
      assert.equal(await head(), 2);
      assert.equal(await anchoredEvents(), 2);
    });

    it('a crash after sending and before recording the receipt is confirmed at start, not sent twice', async () => {
      const crashing = outbox({
        afterBroadcast: () => {
          throw new Error('crash after broadcast');
        },
      });
      await crashing.enqueue('t:3', anchorWrite(3));
      await assert.rejects(crashing.flush(), /crash after broadcast/);
      assert.equal((await crashing.get('t:3'))?.status, 'signed');
      assert.equal(await head(), 3, 'it was mined on send');

      const restarted = outbox();
      const stats = await restarted.reconcile();
      assert.deepEqual(stats, { resent: 0, resigned: 0, confirmed: 1 });
      assert.equal((await restarted.get('t:3'))?.status, 'mined');
      assert.equal(await anchoredEvents(), 3, 'one Anchored event per write');
    });

    it('a signed write whose nonce went to another transaction is signed anew, not lost', async () => {
      const crashing = outbox({
        afterSign: () => {
          throw new Error('crash');
        },
      });
      await crashing.enqueue('t:4', anchorWrite(4));
      await assert.rejects(crashing.flush(), /crash/);
      // someone else uses the relayer's nonce meanwhile (operator error the outbox must survive)
      const w = signer.connect(provider());
      await (await w.sendTransaction({ to: w.address, value: 1n })).wait();

      const restarted = outbox();
      const stats = await restarted.reconcile();
      assert.equal(stats.resigned, 1);
      await restarted.flush();
      assert.equal((await restarted.get('t:4'))?.status, 'mined');
      assert.equal(await head(), 4);
    });

    it('a write that would revert is recorded as failed with the reason and burns no nonce', async () => {
      const ob = outbox();
      const nonce = await provider().getTransactionCount(signer.address);
      const row = await ob.submit('t:stale', anchorWrite(1)); // seq 1 < head: StaleSequence
      assert.equal(row.status, 'failed');
      assert.match(row.error ?? '', /revert/i);
      assert.equal(await provider().getTransactionCount(signer.address), nonce);
    });

    it('submit reports a failed flush, stop ends the waits still open, no rejection goes unhandled, nothing is lost', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      const seq = (await head()) + 1;
      try {
        const crashing = outbox({
          afterSign: () => {
            throw new Error('crash after sign');
          },
        });
        await assert.rejects(crashing.submit('t:stop', anchorWrite(seq)), /crash after sign/);
        const waiting = crashing.waitFor('t:stop');
        await crashing.stop();
        await assert.rejects(waiting, (e: unknown) => (e as { code?: string }).code === 'ERR_UNAVAILABLE');
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(unhandled, [], 'the wait inside the failed submit was ended at stop without a handler');
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      const restarted = outbox();
      await restarted.reconcile();
      assert.equal((await restarted.get('t:stop'))?.status, 'mined');
      assert.equal(await head(), seq);
    });

    it('sends from another registered account with its own nonces, and refuses an account it has no key for', async () => {
      const other = Wallet.createRandom().connect(provider());
      await (await signer.connect(provider()).sendTransaction({ to: other.address, value: 10n ** 18n })).wait();
      const ob = outbox();
      const write = { kind: 'note', to: other.address, data: '0x5746', from: other.address };
      await assert.rejects(ob.enqueue('t:other-unregistered', write), /no key is registered/);
      await ob.registerSigner(other);
      assert.ok(ob.canSend(other.address));
      const relayerNonce = await provider().getTransactionCount(signer.address);
      const a = await ob.submit('t:other-1', write);
      const b = await ob.submit('t:other-2', { ...write, data: '0x574631' });
      assert.equal(a.status, 'mined');
      assert.equal(b.status, 'mined');
      assert.equal(a.sender, other.address.toLowerCase());
      const tx = await provider().getTransaction(b.txHash!);
      assert.equal(tx?.from, other.address, 'the registered account sent it');
      assert.equal(tx?.data, '0x574631');
      assert.equal(await provider().getTransactionCount(other.address), 2);
      assert.equal(await provider().getTransactionCount(signer.address), relayerNonce, 'the relayer sent nothing');
    });

    it("a crash-left write of another account waits for that account's key, then is finished once", async () => {
      const other = Wallet.createRandom().connect(provider());
      await (await signer.connect(provider()).sendTransaction({ to: other.address, value: 10n ** 18n })).wait();
      const crashing = outbox({
        afterSign: () => {
          throw new Error('crash after sign');
        },
      });
      await crashing.registerSigner(other);
      await crashing.enqueue('t:other-crash', { kind: 'note', to: other.address, data: '0x57', from: other.address });
      await assert.rejects(crashing.flush(), /crash after sign/);

      const restarted = outbox();
      assert.deepEqual(await restarted.reconcile(), { resent: 0, resigned: 0, confirmed: 0 }, 'not the relayer’s');
      await restarted.flush();
      assert.equal((await restarted.get('t:other-crash'))?.status, 'signed', 'untouched without its key');
      const stats = await restarted.registerSigner(other);
      assert.equal(stats.resent, 1);
      assert.equal((await restarted.get('t:other-crash'))?.status, 'mined');
      assert.equal(await provider().getTransactionCount(other.address), 1);
    });

    it('sends for an account it was not told about when the signer source has its key (created at another replica)', async () => {
      const other = Wallet.createRandom().connect(provider());
      await (await signer.connect(provider()).sendTransaction({ to: other.address, value: 10n ** 18n })).wait();
      const asked: string[] = [];
      const source = async (address: string) => {
        asked.push(address);
        return address === other.address.toLowerCase() ? other : undefined;
      };
      // A write signed at a replica that knew the key, which then died before broadcasting.
      const crashing = outbox({
        afterSign: () => {
          throw new Error('crash after sign');
        },
      });
      await crashing.registerSigner(other);
      await crashing.enqueue('t:src-crash', { kind: 'note', to: other.address, data: '0x5731', from: other.address });
      await assert.rejects(crashing.flush(), /crash after sign/);

      const ob = outbox();
      const stranger = Wallet.createRandom();
      await assert.rejects(
        ob.enqueue('t:src-stranger', { kind: 'note', to: other.address, data: '0x57', from: stranger.address }),
        /no key is registered/,
        'refused without a source',
      );
      ob.signersFrom(source);
      await assert.rejects(
        ob.enqueue('t:src-stranger', { kind: 'note', to: other.address, data: '0x57', from: stranger.address }),
        /no key is registered/,
        'refused when the source does not know the account either',
      );
      await ob.reconcile();
      assert.equal((await ob.get('t:src-crash'))?.status, 'mined', 'the crash-left write finished with the found key');
      const r = await ob.submit('t:src-new', { kind: 'note', to: other.address, data: '0x5732', from: other.address });
      assert.equal(r.status, 'mined');
      const tx = await provider().getTransaction(r.txHash!);
      assert.equal(tx?.from, other.address);
      assert.equal(await provider().getTransactionCount(other.address), 2, 'one nonce each, none reused');
      assert.ok(asked.includes(other.address.toLowerCase()));
    });

    it('refuses a malformed idempotency key', async () => {
      await assert.rejects(outbox().enqueue('bad key with spaces', anchorWrite(9)), /invalid outbox key/);
    });
  });
}
