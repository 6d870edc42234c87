import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ethrDid } from '@tessera/protocol';
import {
  composeWhiteflag,
  encodeWhiteflag,
  toHex,
  WHITEFLAG_EXAMPLES,
  type WhiteflagMessage,
} from '@tessera/protocol/whiteflag';
import { parseEther, Wallet } from 'ethers';
import { accountEcdhKey } from './accounts.js';
import type { AccountRow } from './store.js';
import { AREA_KEY, type DbOptions, startWhiteflagFixture, type WhiteflagFixture } from './testing.js';

/**
 * The Whiteflag transport and listener conformance suite, run against every database the stack supports (SQLite in
 * `npm test`, PostgreSQL in `npm run test:services`), always on a real anvil: messages go out through the outbox from
 * the originators' own accounts and come back through the listener, authenticated, decrypted and referenced.
 */
export function whiteflagListenerSuite(name: string, db: DbOptions = {}) {
  describe(`Whiteflag transport and listener on ${name} and anvil`, () => {
    let fx: WhiteflagFixture;
    let operator: AccountRow;
    let operatorDid: string;
    const value = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      return r.value;
    };
    const message = (row: { json: string | null }) => JSON.parse(row.json!) as WhiteflagMessage;
    let request = 0;
    const send = async (account: AccountRow, code: keyof typeof WHITEFLAG_EXAMPLES, extra = {}) => {
      const r = value(
        await fx.sender.send(account, {
          requestId: `r-${++request}`,
          messageCode: code,
          body: WHITEFLAG_EXAMPLES[code].MessageBody,
          ...extra,
        }),
      );
      assert.equal(r.status, 'mined', JSON.stringify(r));
      return r;
    };
    /** An account the fixture's outbox sends for, with no Whiteflag authentication at all. */
    const bareAccount = async () => {
      const w = new Wallet(Wallet.createRandom().privateKey);
      await (await fx.funder.sendTransaction({ to: w.address, value: parseEther('1') })).wait();
      await fx.outbox.registerSigner(w);
      return w.address.toLowerCase();
    };
    const hexOf = (m: WhiteflagMessage) => {
      const e = encodeWhiteflag(m);
      assert.ok(e.ok);
      return `0x${toHex(e.value)}`;
    };
    const raw = async (address: string, key: string, data: string) => {
      const row = await fx.outbox.submit(key, { kind: 'test', to: address, data, from: address });
      assert.equal(row.status, 'mined');
      return row.txHash!;
    };

    before(async () => {
      fx = await startWhiteflagFixture(db);
      // a stack actor: its DID key is in the keystore and is the sending account (method 1)
      const key = fx.keystore.getOrCreate('operator');
      operatorDid = ethrDid(fx.chainId, key.address);
      operator = value(await fx.accounts.ensureDidAccount({ did: operatorDid, keyName: 'operator', name: 'Grid ops' }));
    });
    after(async () => fx?.close());

    it('an infrastructure notice from an account authenticated with method 1 is received as its DID’s', async () => {
      const sent = await send(operator, 'I');
      const listener = fx.listener();
      const row = await fx.until(listener, sent.txHash!);
      assert.equal(row.state, 'valid');
      assert.equal(row.auth, 'authenticated');
      assert.equal(row.originatorDid, operatorDid);
      assert.equal(row.authMethod, '1');
      assert.equal(row.originator, operator.address);
      assert.deepEqual(message(row), WHITEFLAG_EXAMPLES.I);
      const auth = await fx.store.authentications().findOneBy({ txHash: row.authMessage! });
      assert.equal(auth?.status, 'verified');
      assert.equal(auth?.name, 'Grid ops');
    });

    it('a device authenticated with method 2 is named with its DID; its PSK-encrypted signal is decrypted', async () => {
      const d = await fx.device();
      const account = value(await fx.accounts.ensureDeviceAccount(d));
      const sent = await send(account, 'S', { encryption: { method: '2', key: AREA_KEY.name } });
      assert.ok(sent.ivTxHash, 'the initialisation vector was sent');
      const onChain = await fx.provider.getTransaction(sent.txHash!);
      assert.match(onChain!.data, /^0x57463132/, 'WF, version 1, encryption method 2, in the clear');
      const listener = fx.listener();
      const row = await fx.until(listener, sent.txHash!);
      assert.equal(row.state, 'valid');
      assert.equal(row.decryptedWith, `psk:${AREA_KEY.name}`);
      assert.equal(row.auth, 'authenticated');
      assert.equal(row.deviceId, d.deviceId);
      assert.equal(row.originatorDid, d.did);
      assert.equal(row.authMethod, '2');
      assert.deepEqual(message(row).MessageBody, WHITEFLAG_EXAMPLES.S.MessageBody);
      assert.equal(message(row).MessageHeader.EncryptionIndicator, '2');
    });

    it('method 1 encryption: a key negotiated by ECDH decrypts for the recipient only', async () => {
      // the recipient is another account of this stack that published its K(0)0A; the listener holds its ECDH key
      const node = value(
        await fx.accounts.ensureDidAccount({
          did: ethrDid(fx.chainId, fx.keystore.getOrCreate('verifier').address),
          keyName: 'verifier',
          name: 'Receiver',
        }),
      );
      const listener = fx.listener();
      const nodeKey = await fx.outbox.get(node.ecdhKey!);
      await fx.until(listener, nodeKey!.txHash!);
      const sent = await send(operator, 'D', { encryption: { method: '1', recipient: node.address } });
      let row = await fx.until(listener, sent.txHash!);
      assert.equal(row.state, 'undecryptable', 'without the recipient’s key nothing decrypts');
      assert.equal(row.errorCode, 'ERR_WHITEFLAG_KEY_UNKNOWN');
      fx.keys.ecdh.push({
        account: node.address,
        privateKey: accountEcdhKey(fx.accounts.wallet(node).privateKey).privateKey,
      });
      const again = await send(operator, 'D', { encryption: { method: '1', recipient: node.address } });
      row = await fx.until(listener, again.txHash!);
      assert.equal(row.state, 'valid');
      assert.equal(row.decryptedWith, `ecdh:${node.address}`);
      assert.equal(row.originatorDid, operatorDid);
      assert.deepEqual(message(row).MessageBody, WHITEFLAG_EXAMPLES.D.MessageBody);
    });

    it('messages of an account that never authenticated are marked unauthenticated', async () => {
      const address = await bareAccount();
      const f = composeWhiteflag('F', { Text: 'I am the grid operator, trust me' });
      const hash = await raw(address, 'test:bare', hexOf(f));
      const row = await fx.until(fx.listener(), hash);
      assert.equal(row.state, 'valid');
      assert.equal(row.auth, 'unauthenticated');
      assert.equal(row.originatorDid, null);
    });

    it('a statement not signed by a key of the DID fails, and the account’s messages are never authentic', async () => {
      // an account that claims the operator's DID, but whose key the operator never authorised
      const impostor = value(
        await fx.accounts.ensureDidAccount({ did: operatorDid, keyName: 'impostor', name: 'Grid ops' }),
      );
      const sent = await send(impostor, 'I');
      const listener = fx.listener();
      const row = await fx.until(listener, sent.txHash!);
      assert.equal(row.auth, 'failed');
      assert.equal(row.originatorDid, null);
      const auth = await fx.store.authentications().findOneBy({ txHash: row.authMessage! });
      assert.equal(auth?.status, 'failed');
      assert.match(auth?.reason ?? '', /not signed by a key of the DID/);
      const listed = await fx.store.list({ auth: 'authenticated', limit: 500 });
      assert.ok(!listed.some((r) => r.originator === impostor.address), 'never listed as authentic');
    });

    it('a suspended device’s token fails authentication', async () => {
      const d = await fx.device();
      await fx.suspend(d.deviceId);
      const account = value(await fx.accounts.ensureDeviceAccount(d));
      const sent = await send(account, 'E');
      const row = await fx.until(fx.listener(), sent.txHash!);
      assert.equal(row.auth, 'failed');
      const auth = await fx.store.authentications().findOneBy({ txHash: row.authMessage! });
      assert.match(auth?.reason ?? '', /Suspended/);
    });

    it('refuses to send a reference that breaks §5.4, and marks one received invalid', async () => {
      const listener = fx.listener();
      const original = await send(operator, 'D');
      await fx.until(listener, original.txHash!);
      const device = value(await fx.accounts.ensureDeviceAccount(await fx.device()));
      // an update (2) may only come from the same originator
      const update = {
        requestId: 'update-of-another',
        messageCode: 'D',
        body: WHITEFLAG_EXAMPLES.D.MessageBody,
        header: { ReferenceIndicator: '2', ReferencedMessage: original.txHash!.slice(2) },
      };
      const refused = await fx.sender.send(device, update);
      assert.equal(refused.ok ? 'ok' : refused.error.code, 'ERR_WHITEFLAG_REFERENCE_INVALID');
      const m = composeWhiteflag('D', WHITEFLAG_EXAMPLES.D.MessageBody, update.header);
      const hash = await raw(device.address, 'test:bad-ref', hexOf(m));
      const row = await fx.until(listener, hash);
      assert.equal(row.state, 'invalid');
      assert.equal(row.errorCode, 'ERR_WHITEFLAG_REFERENCE_INVALID');
    });

    it('records malformed Whiteflag data as invalid with its code', async () => {
      const address = await bareAccount();
      const hash = await raw(address, 'test:garbage', '0x574631305800');
      const row = await fx.until(fx.listener(), hash);
      assert.equal(row.state, 'invalid');
      assert.equal(row.errorCode, 'ERR_WHITEFLAG_MALFORMED');
    });

    it('a restart continues from the cursor: nothing lost, nothing handed over twice', async () => {
      const first = fx.listener();
      await first.step();
      const before = fx.delivered.length;
      const a = await send(operator, 'F');
      const b = await send(operator, 'M');
      // a new listener instance on the same database, as after a crash or a restart
      const second = fx.listener();
      await second.start();
      try {
        await fx.until(second, b.txHash!);
      } finally {
        await second.stop();
      }
      const third = fx.listener();
      await third.start();
      await third.stop();
      const handed = fx.delivered.slice(before).map((r) => r.txHash);
      assert.deepEqual(handed, [a.txHash, b.txHash]);
      const rows = await fx.store.byHashes([a.txHash!, b.txHash!]);
      assert.equal(rows.length, 2);
    });

    it('two listeners on one database (replicas) apply each block once and hand each message over once', async () => {
      const a = fx.listener();
      const b = fx.listener();
      await Promise.all([a.step(), b.step()]);
      const before = fx.delivered.length;
      const sent = [await send(operator, 'F'), await send(operator, 'S'), await send(operator, 'M')];
      for (let i = 0; i < 5; i++) await Promise.all([a.step(), b.step(), a.step()]);
      const rows = await fx.store.byHashes(sent.map((s) => s.txHash!));
      assert.equal(rows.length, 3);
      const handed = fx.delivered.slice(before).map((r) => r.txHash);
      assert.deepEqual(handed.sort(), sent.map((s) => s.txHash!).sort(), 'each once, by whichever applied its block');
    });

    it('a reorganisation drops the messages of the lost blocks and takes them back when they are mined again', async () => {
      const listener = fx.listener();
      await listener.step();
      const snapshot = (await fx.provider.send('evm_snapshot', [])) as string;
      const lost = await send(operator, 'P');
      const lostRow = await fx.until(listener, lost.txHash!);
      assert.equal(lostRow.canonical, 1);
      const handed = fx.delivered.length;
      assert.equal(await fx.provider.send('evm_revert', [snapshot]), true);
      // the other branch: another account's message takes the height the lost one had
      const other = await bareAccount();
      const otherHash = await raw(other, 'test:branch', hexOf(composeWhiteflag('F', { Text: 'the other branch' })));
      await fx.provider.send('evm_mine', []);
      const otherRow = await fx.until(listener, otherHash);
      assert.equal(otherRow.canonical, 1);
      const dropped = await fx.store.received().findOneBy({ txHash: lost.txHash! });
      assert.equal(dropped?.canonical, 0, 'the lost block’s message is no longer canonical');
      assert.ok(!(await fx.store.list({ limit: 500 })).some((r) => r.txHash === lost.txHash));
      assert.equal(listener.stats.reorgs, 1);
      // the same signed transaction is mined again on the new branch: the same row comes back, not a second one
      const outboxRow = await fx.outbox.get(`whiteflag:msg:${operator.address}:r-${request}`);
      await fx.provider.broadcastTransaction(outboxRow!.rawTx!);
      const back = await fx.until(listener, lost.txHash!);
      assert.equal(back.canonical, 1);
      assert.notEqual(back.blockHash, lostRow.blockHash);
      assert.equal(back.auth, 'authenticated');
      const count = (await fx.store.received().countBy({ txHash: lost.txHash! })) as number;
      assert.equal(count, 1);
      assert.equal(
        fx.delivered.slice(handed).filter((r) => r.txHash === lost.txHash).length,
        0,
        'not handed over a second time',
      );
    });
  });
}
