import { type ErrorShape, type Logger, silentLogger } from '@tessera/protocol';
import {
  checkReference,
  decodeWhiteflag,
  decryptWhiteflag,
  type EncryptionMethod,
  ecdhSharedSecret,
  encryptionKey,
  evmAddressBytes,
  fromHex,
  INIT_VECTOR_TYPE,
  peekWhiteflag,
  validateWhiteflag,
  type WhiteflagMessage,
} from '@tessera/protocol/whiteflag';
import type { Block, JsonRpcProvider, TransactionResponse } from 'ethers';
import type { EntityManager } from 'typeorm';
import type { AuthenticationRow, AuthStatus, ReceivedRow, WhiteflagStore } from './store.js';

/** What checking an authentication message (`A`) found about its originator. */
export interface AuthenticationVerdict {
  status: 'verified' | 'failed';
  did?: string;
  deviceId?: string;
  name?: string;
  /** Why it failed (stored and shown; never a secret). */
  reason?: string;
}

/** Checks authentication messages: method 1 (signed statement) and method 2 (shared token). */
export interface Authenticator {
  verify(message: WhiteflagMessage, originator: string): Promise<AuthenticationVerdict>;
}

/** The keys this receiver holds to decrypt messages. */
export interface ReceiverKeys {
  /** Pre-shared secrets of encryption method 2, by name. */
  preShared(): ReadonlyArray<{ name: string; secret: Uint8Array }>;
  /** Our brainpoolP256r1 private keys of encryption method 1 (their public keys published with `K(0)0A`). */
  ecdh(): ReadonlyArray<{ account: string; privateKey: Uint8Array }>;
}

export interface WhiteflagListenerOptions {
  store: WhiteflagStore;
  provider: JsonRpcProvider;
  authenticator: Authenticator;
  keys: ReceiverKeys;
  /** One cursor per name (one listener per database unless names differ). */
  name?: string;
  /** First block to read when there is no cursor yet; default: the block after the current head. */
  startBlock?: number;
  /** Read a block only once this many blocks follow it (0 on a local chain). */
  confirmations?: number;
  /** Most blocks read in one step. */
  batchBlocks?: number;
  /** Block hashes kept to find where a reorganisation forked. */
  keepBlocks?: number;
  pollIntervalMs?: number;
  /**
   * Called once per received message when it is final (valid, invalid or undecryptable), after it is committed;
   * once it resolves the message is marked delivered and is never handed over again, also after a restart.
   */
  onMessage?(row: ReceivedRow, message: WhiteflagMessage | undefined): Promise<void> | void;
  /**
   * Resolves once DID resolution has seen every registry change up to this block (the registry watcher's
   * `waitForBlock`), so an authentication is checked against the DID document as of its own block, not an older one.
   */
  registrySynced?(blockNumber: number): Promise<void>;
  log?: Logger;
}

const now = () => new Date().toISOString();
const WF = /^0x5746/i;
const strip0x = (h: string) => h.replace(/^0x/, '').toLowerCase();

interface Pending {
  tx: TransactionResponse;
  /** The fourth byte of the message (never encrypted), or '?' when the data is not a version 1 message. */
  encryptionIndicator: string;
  verdict?: AuthenticationVerdict;
  decoded?: WhiteflagMessage;
  error?: ErrorShape;
}

/**
 * Follows the chain and records every Whiteflag message (Annex A: the message is the transaction data on Ethereum):
 * decodes, validates, checks references, authenticates (by the originator's authentication messages, in chain
 * order) and decrypts (when the initialisation vector arrives and a key is held). Each block is applied in one
 * database transaction with the cursor, so a crash or restart neither loses nor repeats a message; a reorganisation
 * (a stored block hash that the chain no longer has) rolls the cursor back to the fork and marks the messages of the
 * dropped blocks non-canonical until a block includes them again (same transaction hash, same row).
 */
export class WhiteflagListener {
  private readonly log: Logger;
  private readonly name: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = true;
  readonly stats = { blocks: 0, messages: 0, reorgs: 0 };
  private steps: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WhiteflagListenerOptions) {
    this.log = (o.log ?? silentLogger).child({ part: 'whiteflag-listener' });
    this.name = o.name ?? 'default';
  }

  /** The last block applied (or -1). */
  async cursor(): Promise<{ blockNumber: number; blockHash: string } | null> {
    return this.o.store.cursors().findOneBy({ name: this.name });
  }

  /** Deliver what a previous process committed but did not hand over, then follow the chain. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.redeliver();
    const tick = () => {
      this.running = this.step()
        .then(() => undefined)
        .catch((e) => this.log.warn({ err: e }, 'whiteflag listener step failed; will retry'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.o.pollIntervalMs ?? 250);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Wait until the blocks up to `n` have been applied (tests and callers that know their receipt's block). */
  async waitForBlock(n: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const c = await this.cursor();
      if (c && c.blockNumber >= n) return;
      if (Date.now() > until) throw new Error(`whiteflag listener did not reach block ${n} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * One round: notice a reorganisation, then apply up to `batchBlocks` new blocks. Returns blocks applied. Rounds of
   * this listener run one at a time; other listeners on the same database (replicas) are fenced by the cursor (a block
   * is applied only on top of the cursor it follows, checked under a lock in the block's transaction).
   */
  step(): Promise<number> {
    const run = this.steps.then(() => this.round());
    this.steps = run.catch(() => 0);
    return run;
  }

  private async round(): Promise<number> {
    const { provider } = this.o;
    let cursor = await this.cursor();
    if (!cursor) {
      const head = await provider.getBlockNumber();
      const start = this.o.startBlock ?? head + 1;
      const before = start > 0 ? await provider.getBlock(start - 1) : null;
      cursor = { blockNumber: start - 1, blockHash: before?.hash ?? '' };
      await this.o.store.cursors().save({ name: this.name, ...cursor, updatedAt: now() });
    }
    if (cursor.blockNumber >= 0) {
      const at = await provider.getBlock(cursor.blockNumber);
      if (at && at.hash !== cursor.blockHash) {
        cursor = await this.rollback(cursor.blockNumber);
      }
    }
    const head = (await provider.getBlockNumber()) - (this.o.confirmations ?? 0);
    const last = Math.min(head, cursor.blockNumber + (this.o.batchBlocks ?? 100));
    let applied = 0;
    let parent = cursor.blockHash;
    for (let n = cursor.blockNumber + 1; n <= last; n++) {
      const block = await provider.getBlock(n, true);
      if (!block) break;
      if (parent !== '' && block.parentHash !== parent) break; // a reorganisation under us: the next step rolls back
      if (!(await this.apply(block))) break; // another listener moved the cursor: start again from it
      parent = block.hash!;
      applied++;
    }
    return applied;
  }

  /** Find the fork (the highest kept block the chain still has) and mark everything above it non-canonical. */
  private async rollback(from: number): Promise<{ blockNumber: number; blockHash: string }> {
    const kept = await this.o.store
      .blocks()
      .find({ where: { name: this.name }, order: { blockNumber: 'DESC' }, take: this.o.keepBlocks ?? 256 });
    let fork: { blockNumber: number; blockHash: string } | undefined;
    for (const b of kept) {
      if (b.blockNumber > from) continue;
      const onChain = await this.o.provider.getBlock(b.blockNumber);
      if (onChain?.hash === b.blockHash) {
        fork = { blockNumber: b.blockNumber, blockHash: b.blockHash };
        break;
      }
    }
    if (!fork) {
      const lowest = kept.at(-1)?.blockNumber ?? 0;
      const n = Math.max(lowest - 1, -1);
      const b = n >= 0 ? await this.o.provider.getBlock(n) : null;
      fork = { blockNumber: n, blockHash: b?.hash ?? '' };
      this.log.error({ from, fork: n }, 'reorganisation deeper than the kept block hashes; re-reading from there');
    }
    const f = fork;
    await this.o.store.transaction(async (m) => {
      await this.o.store
        .received(m)
        .createQueryBuilder()
        .update()
        .set({ canonical: 0 })
        .where('block_number > :n', { n: f.blockNumber })
        .execute();
      await this.o.store
        .authentications(m)
        .createQueryBuilder()
        .update()
        .set({ canonical: 0 })
        .where('block_number > :n', { n: f.blockNumber })
        .execute();
      await this.o.store
        .blocks(m)
        .createQueryBuilder()
        .delete()
        .where('name = :name AND block_number > :n', { name: this.name, n: f.blockNumber })
        .execute();
      await this.o.store.cursors(m).save({ name: this.name, ...f, updatedAt: now() });
    });
    this.stats.reorgs++;
    this.log.warn({ from, fork: f.blockNumber }, 'chain reorganisation: re-reading from the fork');
    return f;
  }

  /** Decode and authenticate outside the transaction (statements are fetched), then apply the block in one. */
  private async apply(block: Block): Promise<boolean> {
    const pending: Pending[] = [];
    let synced = false;
    for (const tx of block.prefetchedTransactions) {
      if (!WF.test(tx.data)) continue;
      const p: Pending = { tx, encryptionIndicator: '?' };
      const bytes = fromHex(tx.data);
      const start = bytes.ok ? peekWhiteflag(bytes.value) : bytes;
      if (!start.ok) p.error = start.error;
      else if (bytes.ok) {
        p.encryptionIndicator = start.value.encryptionIndicator;
        if (p.encryptionIndicator === '0') {
          const d = decodeWhiteflag(bytes.value);
          const v = d.ok ? validateWhiteflag(d.value) : d;
          if (!v.ok) p.error = v.error;
          else {
            p.decoded = v.value;
            const h = v.value.MessageHeader;
            if (h.MessageCode === 'A' && (h.ReferenceIndicator === '0' || h.ReferenceIndicator === '2')) {
              if (!synced) await this.o.registrySynced?.(block.number);
              synced = true;
              p.verdict = await this.o.authenticator.verify(v.value, tx.from.toLowerCase()).catch((e) => ({
                status: 'failed' as const,
                reason: `verification failed: ${(e as Error).message}`.slice(0, 300),
              }));
            }
          }
        }
      }
      pending.push(p);
    }
    const final: ReceivedRow[] = [];
    const applied = await this.o.store.transaction(async (m) => {
      // the fence: this block goes on top of the cursor it follows, or not at all (another replica applied it)
      const cursor = await this.o.store.cursors(m).findOne({
        where: { name: this.name },
        ...(m.connection.options.type === 'postgres' ? { lock: { mode: 'pessimistic_write' as const } } : {}),
      });
      if (
        !cursor ||
        cursor.blockNumber !== block.number - 1 ||
        (cursor.blockHash !== '' && cursor.blockHash !== block.parentHash)
      )
        return false;
      for (const p of pending) final.push(...(await this.record(m, block, p)));
      await this.o.store.blocks(m).save({ name: this.name, blockNumber: block.number, blockHash: block.hash! });
      await this.o.store.cursors(m).save({
        name: this.name,
        blockNumber: block.number,
        blockHash: block.hash!,
        updatedAt: now(),
      });
      await this.o.store
        .blocks(m)
        .createQueryBuilder()
        .delete()
        .where('name = :name AND block_number < :n', { name: this.name, n: block.number - (this.o.keepBlocks ?? 256) })
        .execute();
      return true;
    });
    if (!applied) return false;
    this.stats.blocks++;
    this.stats.messages += pending.length;
    for (const row of final) await this.deliver(row);
    return true;
  }

  /** The originator's authentication as of now (the latest canonical authentication message before this one). */
  private async authOf(m: EntityManager, originator: string): Promise<{ auth: AuthStatus; row?: AuthenticationRow }> {
    const row = await this.o.store.authentications(m).findOne({
      where: { originator, canonical: 1 },
      order: { blockNumber: 'DESC', txIndex: 'DESC' },
    });
    if (!row || row.status === 'discontinued') return { auth: 'unauthenticated' };
    return { auth: row.status === 'verified' ? 'authenticated' : 'failed', row };
  }

  /** Apply one message; returns the rows that became final (this one and any message it decrypted). */
  private async record(m: EntityManager, block: Block, p: Pending): Promise<ReceivedRow[]> {
    const repo = this.o.store.received(m);
    const txHash = p.tx.hash.toLowerCase();
    const originator = p.tx.from.toLowerCase();
    const existing = await repo.findOneBy({ txHash });
    const h = p.decoded?.MessageHeader;
    const { auth, row: authRow } = await this.authOf(m, originator);
    const row: ReceivedRow = {
      txHash,
      blockNumber: block.number,
      blockHash: block.hash!,
      txIndex: p.tx.index,
      originator,
      encoded: strip0x(p.tx.data),
      messageCode: h?.MessageCode ?? null,
      referenceIndicator: h?.ReferenceIndicator ?? null,
      referencedMessage: h && h.ReferenceIndicator !== '0' ? h.ReferencedMessage : null,
      encryptionIndicator: p.encryptionIndicator,
      json: p.decoded ? JSON.stringify(p.decoded) : null,
      state: p.decoded ? 'valid' : p.error ? 'invalid' : 'encrypted',
      errorCode: p.error?.code ?? null,
      errorMessage: p.error?.message ?? null,
      auth,
      originatorDid: authRow?.status === 'verified' ? authRow.did : null,
      deviceId: authRow?.status === 'verified' ? authRow.deviceId : null,
      authMethod: authRow?.method ?? null,
      authMessage: authRow?.txHash ?? null,
      decryptedWith: null,
      canonical: 1,
      delivered: existing?.delivered ?? 0,
      receivedAt: existing?.receivedAt ?? now(),
    };
    if (!p.decoded && !p.error && !['1', '2'].includes(row.encryptionIndicator)) {
      row.state = 'undecryptable';
      row.errorCode = 'ERR_WHITEFLAG_DECRYPTION_FAILED';
      row.errorMessage = `encryption '${row.encryptionIndicator}' is private use; this receiver cannot decrypt it`;
    }
    const out: ReceivedRow[] = [row];
    if (p.decoded) {
      const refProblem = await this.referenceProblem(m, p.decoded, row);
      if (refProblem) {
        row.state = 'invalid';
        row.errorCode = refProblem.code;
        row.errorMessage = refProblem.message;
      }
    }
    if (p.decoded && row.state === 'valid') {
      const code = p.decoded.MessageHeader.MessageCode;
      const ref = p.decoded.MessageHeader.ReferenceIndicator;
      if (code === 'A') await this.authentication(m, block, p, row);
      if (code === 'K' && ref === '3') {
        const decrypted = await this.decryptReferenced(m, p.decoded, row);
        if (decrypted) out.push(decrypted);
      }
    }
    await repo.save(row);
    return out.filter((r) => r.state !== 'encrypted');
  }

  /** §5.4.1: a referencing message must follow the tables, when the referenced message is known here. */
  private async referenceProblem(
    m: EntityManager,
    msg: WhiteflagMessage,
    row: ReceivedRow,
  ): Promise<ErrorShape | undefined> {
    const h = msg.MessageHeader;
    if (h.ReferenceIndicator === '0') return undefined;
    const target = await this.o.store.received(m).findOneBy({ txHash: `0x${h.ReferencedMessage}`, canonical: 1 });
    if (!target?.messageCode || !target.referenceIndicator) return undefined;
    const same =
      target.originator === row.originator ||
      (row.originatorDid !== null && target.originatorDid !== null && row.originatorDid === target.originatorDid);
    const r = checkReference(h, {
      header: { MessageCode: target.messageCode, ReferenceIndicator: target.referenceIndicator },
      sameOriginator: same,
    });
    return r.ok ? undefined : r.error;
  }

  /** §5.1: an A(0)/A(2) sets the originator's authentication, an A(1)/A(4) withdraws the one it references. */
  private async authentication(m: EntityManager, block: Block, p: Pending, row: ReceivedRow): Promise<void> {
    const h = p.decoded!.MessageHeader;
    const repo = this.o.store.authentications(m);
    if (h.ReferenceIndicator === '0' || h.ReferenceIndicator === '2') {
      const v = p.verdict ?? { status: 'failed', reason: 'not verified' };
      const a: AuthenticationRow = {
        txHash: row.txHash,
        originator: row.originator,
        blockNumber: block.number,
        txIndex: p.tx.index,
        method: p.decoded!.MessageBody['VerificationMethod'] as string,
        status: v.status,
        did: v.did ?? null,
        deviceId: v.deviceId ?? null,
        name: v.name ?? null,
        reason: v.reason ?? null,
        canonical: 1,
      };
      await repo.save(a);
      row.auth = v.status === 'verified' ? 'authenticated' : 'failed';
      row.originatorDid = a.did;
      row.deviceId = a.deviceId;
      row.authMethod = a.method;
      row.authMessage = a.txHash;
      if (v.status === 'failed') {
        row.errorCode = 'ERR_WHITEFLAG_AUTH_FAILED';
        row.errorMessage = v.reason ?? 'the authentication does not verify';
      }
      this.log.info(
        { originator: row.originator, status: v.status, did: v.did, deviceId: v.deviceId, reason: v.reason },
        'whiteflag authentication',
      );
    } else if (h.ReferenceIndicator === '1' || h.ReferenceIndicator === '4') {
      const target = await repo.findOneBy({ txHash: `0x${h.ReferencedMessage}`, originator: row.originator });
      if (target) await repo.save({ ...target, status: 'discontinued' });
    }
  }

  /** §5.2.4.1: a K(3)11/K(3)21 carries the initialisation vector of the encrypted message it references. */
  private async decryptReferenced(
    m: EntityManager,
    k: WhiteflagMessage,
    kRow: ReceivedRow,
  ): Promise<ReceivedRow | undefined> {
    const type = k.MessageBody['CryptoDataType'] as string;
    if (type !== '11' && type !== '21') return undefined;
    const repo = this.o.store.received(m);
    const target = await repo.findOneBy({ txHash: `0x${k.MessageHeader.ReferencedMessage}`, canonical: 1 });
    if (!target || target.originator !== kRow.originator) return undefined;
    if (target.state !== 'encrypted' && target.state !== 'undecryptable') return undefined;
    const method = target.encryptionIndicator as EncryptionMethod;
    if (INIT_VECTOR_TYPE[method] !== type) return undefined;
    const iv = Buffer.from(k.MessageBody['CryptoData'] as string, 'hex');
    const address = evmAddressBytes(`0x${target.originator.slice(2)}`);
    const data = fromHex(target.encoded);
    if (!address.ok || !data.ok) return undefined;
    const candidates: { name: string; key: Buffer }[] = [];
    if (method === '2') {
      for (const psk of this.o.keys.preShared()) {
        const key = encryptionKey('2', psk.secret, address.value);
        if (key.ok) candidates.push({ name: `psk:${psk.name}`, key: key.value });
      }
    } else {
      const theirs = await this.o.store.ecdhPublicKeyOf(target.originator, m);
      for (const own of theirs ? this.o.keys.ecdh() : []) {
        const z = ecdhSharedSecret(own.privateKey, theirs!);
        const key = z.ok ? encryptionKey('1', z.value, address.value) : z;
        if (key.ok) candidates.push({ name: `ecdh:${own.account}`, key: key.value });
      }
    }
    for (const c of candidates) {
      const plain = decryptWhiteflag(data.value, c.key, iv);
      const decoded = plain.ok ? decodeWhiteflag(plain.value) : plain;
      const valid = decoded.ok ? validateWhiteflag(decoded.value) : decoded;
      // AES-CTR has no integrity check: a wrong key gives bytes that do not decode into a valid message
      if (!valid.ok) continue;
      const h = valid.value.MessageHeader;
      Object.assign(target, {
        json: JSON.stringify(valid.value),
        messageCode: h.MessageCode,
        referenceIndicator: h.ReferenceIndicator,
        referencedMessage: h.ReferenceIndicator !== '0' ? h.ReferencedMessage : null,
        state: 'valid',
        errorCode: null,
        errorMessage: null,
        decryptedWith: c.name,
      });
      const problem = await this.referenceProblem(m, valid.value, target);
      if (problem) Object.assign(target, { state: 'invalid', errorCode: problem.code, errorMessage: problem.message });
      await repo.save(target);
      return target;
    }
    Object.assign(target, {
      state: 'undecryptable',
      errorCode: candidates.length === 0 ? 'ERR_WHITEFLAG_KEY_UNKNOWN' : 'ERR_WHITEFLAG_DECRYPTION_FAILED',
      errorMessage:
        candidates.length === 0
          ? `no ${method === '2' ? 'pre-shared key' : 'ECDH key exchange with the originator'} is held here`
          : 'no key held here decrypts it into a valid message',
    });
    await repo.save(target);
    return target;
  }

  private async deliver(row: ReceivedRow): Promise<void> {
    if (row.delivered === 1) return;
    if (this.o.onMessage) {
      try {
        await this.o.onMessage(row, row.json ? (JSON.parse(row.json) as WhiteflagMessage) : undefined);
      } catch (e) {
        this.log.warn({ err: e, txHash: row.txHash }, 'delivering a whiteflag message failed; retried at start');
        return;
      }
    }
    await this.o.store.received().update({ txHash: row.txHash }, { delivered: 1 });
    row.delivered = 1;
  }

  private async redeliver(): Promise<void> {
    const rows = await this.o.store.received().find({
      where: [
        { delivered: 0, canonical: 1, state: 'valid' },
        { delivered: 0, canonical: 1, state: 'invalid' },
        { delivered: 0, canonical: 1, state: 'undecryptable' },
      ],
      order: { blockNumber: 'ASC', txIndex: 'ASC' },
    });
    for (const r of rows) await this.deliver(r);
  }
}
