import type { Outbox, OutboxRow } from '@tessera/contracts';
import { err, type Logger, ok, type Result, silentLogger } from '@tessera/protocol';
import {
  checkReference,
  composeWhiteflag,
  ecdhSharedSecret,
  encodeWhiteflag,
  encryptionKey,
  encryptWhiteflag,
  evmAddressBytes,
  INIT_VECTOR_TYPE,
  newInitVector,
  toHex,
  validateWhiteflag,
  type WhiteflagBody,
  type WhiteflagHeader,
  type WhiteflagMessage,
} from '@tessera/protocol/whiteflag';
import type { WhiteflagAccounts } from './accounts.js';
import type { ReceiverKeys } from './listener.js';
import type { AccountRow, SentRow, WhiteflagStore } from './store.js';

/** How a message is encrypted: method 2 with a named pre-shared key, method 1 for the account that published a K0A. */
export type EncryptionRequest = { method: '2'; key: string } | { method: '1'; recipient: string };

export interface SendRequest {
  /** The sender's idempotency key: the same request id from the same account never sends twice. */
  requestId: string;
  messageCode: string;
  body: WhiteflagBody;
  header?: Partial<Pick<WhiteflagHeader, 'DuressIndicator' | 'ReferenceIndicator' | 'ReferencedMessage'>>;
  encryption?: EncryptionRequest;
}

export interface SendResult {
  id: string;
  account: string;
  status: OutboxRow['status'];
  txHash: string | null;
  /** The transaction of the initialisation vector (`K(3)11`/`K(3)21`) of an encrypted message. */
  ivTxHash: string | null;
  error?: string;
}

const now = () => new Date().toISOString();

/**
 * Sends Whiteflag messages from an originator's account through the outbox (recorded before it is sent, idempotent by
 * request id): validates them against the standard and the referencing rules, encrypts them when asked (§5.2.4.1:
 * a new random initialisation vector each time, sent right after in a `K(3)` that references the message), and
 * embeds them as the transaction data (Annex A, Ethereum).
 */
export class WhiteflagSender {
  private readonly log: Logger;

  constructor(
    private readonly o: {
      store: WhiteflagStore;
      outbox: Outbox;
      accounts: WhiteflagAccounts;
      /** Named pre-shared keys (method 2) this stack may encrypt with. */
      keys: Pick<ReceiverKeys, 'preShared'>;
      /** How long `send` waits for the message to be mined before answering with its pending state. */
      waitMs?: number;
      log?: Logger;
    },
  ) {
    this.log = (o.log ?? silentLogger).child({ part: 'whiteflag-sender' });
  }

  /** Check a message the way it would be sent, without sending it. */
  async prepare(account: AccountRow, req: SendRequest): Promise<Result<WhiteflagMessage>> {
    const m = composeWhiteflag(req.messageCode, req.body, {
      ...req.header,
      EncryptionIndicator: req.encryption?.method ?? '0',
    });
    const v = validateWhiteflag(m);
    if (!v.ok) return v;
    const h = v.value.MessageHeader;
    if (h.MessageCode === 'A' || h.MessageCode === 'K')
      return err('ERR_WHITEFLAG_FIELD_INVALID', 'authentication and crypto messages are sent by the stack itself');
    if (h.ReferenceIndicator !== '0') {
      const target = await this.o.store.received().findOneBy({ txHash: `0x${h.ReferencedMessage}`, canonical: 1 });
      if (target?.messageCode && target.referenceIndicator) {
        const same = target.originator === account.address || target.originatorDid === account.did;
        const r = checkReference(h, {
          header: { MessageCode: target.messageCode, ReferenceIndicator: target.referenceIndicator },
          sameOriginator: same,
        });
        if (!r.ok) return r;
      }
    }
    return ok(v.value);
  }

  async send(account: AccountRow, req: SendRequest): Promise<Result<SendResult>> {
    if (!account.authKey)
      return err('ERR_WHITEFLAG_ORIGINATOR_NOT_READY', 'the account has not sent its authentication message yet');
    const id = `${account.address}:${req.requestId}`;
    const existing = await this.o.store.sent().findOneBy({ id });
    if (existing) return ok(await this.result(existing));
    const prepared = await this.prepare(account, req);
    if (!prepared.ok) return prepared;
    const encoded = encodeWhiteflag(prepared.value);
    if (!encoded.ok) return encoded;
    let data = encoded.value;
    let iv: Buffer | null = null;
    if (req.encryption) {
      const key = await this.keyFor(account, req.encryption);
      if (!key.ok) return key;
      iv = newInitVector();
      const c = encryptWhiteflag(data, key.value, iv);
      if (!c.ok) return c;
      data = c.value;
    }
    const row: SentRow = {
      id,
      account: account.address,
      messageCode: req.messageCode,
      messageKey: `whiteflag:msg:${id}`,
      ivKey: null,
      iv: iv ? iv.toString('hex') : null,
      ivType: req.encryption ? INIT_VECTOR_TYPE[req.encryption.method] : null,
      createdAt: now(),
    };
    // the intent (and the IV, public once sent) is recorded before anything goes out, so a crash is finished at start
    await this.o.store.sent().save(row);
    await this.o.outbox.enqueue(row.messageKey, {
      kind: 'whiteflag.message',
      to: account.address,
      data: `0x${toHex(data)}`,
      from: account.address,
    });
    await this.flush();
    await this.finish(row);
    return ok(await this.result(row));
  }

  /** Wait for the message, then send its initialisation vector referencing it (encrypted messages only). */
  private async finish(row: SentRow): Promise<void> {
    const mined = await this.o.outbox.waitFor(row.messageKey, this.o.waitMs ?? 30_000).catch(() => undefined);
    if (!row.iv || !row.ivType || row.ivKey) return;
    if (mined?.status !== 'mined' || !mined.txHash) return;
    const k = composeWhiteflag(
      'K',
      { CryptoDataType: row.ivType, CryptoData: row.iv },
      { ReferenceIndicator: '3', ReferencedMessage: mined.txHash.slice(2) },
    );
    const ivKey = `whiteflag:iv:${row.id}`;
    const sent = await this.o.accounts.enqueue(row.account, ivKey, k, 'whiteflag.init-vector');
    if (!sent.ok) {
      this.log.error({ id: row.id, err: sent.error }, 'the initialisation vector could not be encoded');
      return;
    }
    row.ivKey = ivKey;
    await this.o.store.sent().save(row);
    await this.flush();
    await this.o.outbox.waitFor(ivKey, this.o.waitMs ?? 30_000).catch(() => undefined);
  }

  /** Send now rather than at the outbox's next round (a failed flush is retried by its loop). */
  private async flush(): Promise<void> {
    await this.o.outbox.flush().catch((e) => this.log.warn({ err: e }, 'outbox flush failed; its loop retries'));
  }

  /** At start: send the initialisation vectors a crash left unsent (their messages are mined or about to be). */
  async resume(): Promise<number> {
    const rows = await this.o.store
      .sent()
      .createQueryBuilder('s')
      .where('s.iv IS NOT NULL AND s.iv_key IS NULL')
      .getMany();
    for (const r of rows) void this.finish(r).catch((e) => this.log.warn({ err: e, id: r.id }, 'resume failed'));
    return rows.length;
  }

  async get(id: string): Promise<SendResult | undefined> {
    const row = await this.o.store.sent().findOneBy({ id });
    return row ? this.result(row) : undefined;
  }

  private async result(row: SentRow): Promise<SendResult> {
    const m = await this.o.outbox.get(row.messageKey);
    const iv = row.ivKey ? await this.o.outbox.get(row.ivKey) : null;
    const status = !m ? 'pending' : m.status === 'mined' && row.iv && iv?.status !== 'mined' ? 'signed' : m.status;
    return {
      id: row.id,
      account: row.account,
      status,
      txHash: m?.txHash ?? null,
      ivTxHash: iv?.txHash ?? null,
      ...(m?.error ? { error: m.error } : {}),
    };
  }

  /** §5.2.3: the key of method 2 (a named pre-shared secret) or method 1 (ECDH with the recipient's K0A). */
  private async keyFor(account: AccountRow, e: EncryptionRequest): Promise<Result<Buffer>> {
    const address = evmAddressBytes(account.address);
    if (!address.ok) return address;
    if (e.method === '2') {
      const psk = this.o.keys.preShared().find((k) => k.name === e.key);
      if (!psk) return err('ERR_WHITEFLAG_KEY_UNKNOWN', `no pre-shared key named '${e.key}'`);
      return encryptionKey('2', psk.secret, address.value);
    }
    const recipient = e.recipient.toLowerCase();
    const theirs = await this.o.store.ecdhPublicKeyOf(recipient);
    if (!theirs)
      return err('ERR_WHITEFLAG_KEY_UNKNOWN', `${recipient} has published no ECDH public key (K(0)0A) seen here`);
    const z = ecdhSharedSecret(this.o.accounts.ecdhOf(account).privateKey, theirs);
    if (!z.ok) return z;
    return encryptionKey('1', z.value, address.value);
  }
}
