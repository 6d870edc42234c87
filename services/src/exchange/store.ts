import { isTransientConflict, isUniqueViolation } from '@tessera/contracts';
import { type DataSource, EntitySchema, type EntityManager, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Durable state of the data exchange: partners seen with a DataPartner credential, messages (the signed JWS and the
 * receiver's signed acknowledgement), consents, processes, and the hash-chained trail. Payloads stay here, off chain;
 * only the trail head goes on chain. The SQL is portable between SQLite and PostgreSQL (varchar, text, integer).
 */

export interface PartnerRow {
  did: string;
  name: string;
  /** Expiry of the DataPartner credential last presented (ISO), or null when it has none. */
  validUntil: string | null;
  registeredAt: string;
  updatedAt: string;
}

export type MessageStatus = 'sent' | 'acknowledged';

export interface MessageRow {
  id: string;
  kind: string;
  sender: string;
  recipient: string;
  processId: string | null;
  /** requestId of an answer, originalId of a forward, consentId of a revocation. */
  refId: string | null;
  contentHash: string | null;
  /** The body (`tex` claim) as canonical JSON, for queries; the JWS is the record. */
  body: string;
  jws: string;
  hash: string;
  /** Sender's timestamp (iat), ISO. */
  sentAt: string;
  receivedAt: string;
  status: MessageStatus;
  ackJws: string | null;
  ackHash: string | null;
  ackedAt: string | null;
}

export type ConsentStatus = 'active' | 'revoked';

export interface ConsentRow {
  id: string;
  controller: string;
  recipient: string;
  subject: string;
  purpose: string;
  thirdPartyDisclosure: number;
  /** JSON array of DIDs, or null = any partner. */
  thirdParties: string | null;
  /** JSON array of exchange ids, or null = every data exchange from the controller to the recipient. */
  exchangeIds: string | null;
  expiresAt: string;
  status: ConsentStatus;
  revokedBy: string | null;
  revokedAt: string | null;
}

export interface ProcessRow {
  id: string;
  template: string;
  initiator: string;
  counterparty: string;
  status: 'running' | 'completed' | 'rejected';
  /** ProcessStep[] as JSON. */
  steps: string;
  createdAt: string;
  updatedAt: string;
}

export interface TrailRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  details: string;
  prevHash: string;
  hash: string;
}

export const PartnerEntity = new EntitySchema<PartnerRow>({
  name: 'ExchangePartnerRow',
  tableName: 'tessera_exchange_partner',
  columns: {
    did: { type: 'varchar', length: 300, primary: true },
    name: { type: 'varchar', length: 200 },
    validUntil: { name: 'valid_until', type: 'varchar', length: 32, nullable: true },
    registeredAt: { name: 'registered_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const MessageEntity = new EntitySchema<MessageRow>({
  name: 'ExchangeMessageRow',
  tableName: 'tessera_exchange_message',
  columns: {
    id: { type: 'varchar', length: 100, primary: true },
    kind: { type: 'varchar', length: 32 },
    sender: { type: 'varchar', length: 300 },
    recipient: { type: 'varchar', length: 300 },
    processId: { name: 'process_id', type: 'varchar', length: 100, nullable: true },
    refId: { name: 'ref_id', type: 'varchar', length: 100, nullable: true },
    contentHash: { name: 'content_hash', type: 'varchar', length: 64, nullable: true },
    body: { type: 'text' },
    jws: { type: 'text' },
    hash: { type: 'varchar', length: 64 },
    sentAt: { name: 'sent_at', type: 'varchar', length: 32 },
    receivedAt: { name: 'received_at', type: 'varchar', length: 32 },
    status: { type: 'varchar', length: 16 },
    ackJws: { name: 'ack_jws', type: 'text', nullable: true },
    ackHash: { name: 'ack_hash', type: 'varchar', length: 64, nullable: true },
    ackedAt: { name: 'acked_at', type: 'varchar', length: 32, nullable: true },
  },
});

export const ConsentEntity = new EntitySchema<ConsentRow>({
  name: 'ExchangeConsentRow',
  tableName: 'tessera_exchange_consent',
  columns: {
    id: { type: 'varchar', length: 100, primary: true },
    controller: { type: 'varchar', length: 300 },
    recipient: { type: 'varchar', length: 300 },
    subject: { type: 'varchar', length: 300 },
    purpose: { type: 'varchar', length: 500 },
    thirdPartyDisclosure: { name: 'third_party_disclosure', type: 'integer' },
    thirdParties: { name: 'third_parties', type: 'text', nullable: true },
    exchangeIds: { name: 'exchange_ids', type: 'text', nullable: true },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    status: { type: 'varchar', length: 16 },
    revokedBy: { name: 'revoked_by', type: 'varchar', length: 100, nullable: true },
    revokedAt: { name: 'revoked_at', type: 'varchar', length: 32, nullable: true },
  },
});

export const ProcessEntity = new EntitySchema<ProcessRow>({
  name: 'ExchangeProcessRow',
  tableName: 'tessera_exchange_process',
  columns: {
    id: { type: 'varchar', length: 100, primary: true },
    template: { type: 'varchar', length: 64 },
    initiator: { type: 'varchar', length: 300 },
    counterparty: { type: 'varchar', length: 300 },
    status: { type: 'varchar', length: 16 },
    steps: { type: 'text' },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const TrailEntity = new EntitySchema<TrailRow>({
  name: 'ExchangeTrailRow',
  tableName: 'tessera_exchange_trail',
  columns: {
    seq: { type: 'integer', primary: true },
    at: { type: 'varchar', length: 32 },
    actor: { type: 'varchar', length: 300 },
    action: { type: 'varchar', length: 64 },
    details: { type: 'text' },
    prevHash: { name: 'prev_hash', type: 'varchar', length: 64 },
    hash: { type: 'varchar', length: 64 },
  },
});

export class ExchangeMigration1763790000000 implements MigrationInterface {
  name = 'ExchangeMigration1763790000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_exchange_partner (
      did varchar(300) PRIMARY KEY, name varchar(200) NOT NULL, valid_until varchar(32) NULL,
      registered_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE tessera_exchange_message (
      id varchar(100) PRIMARY KEY, kind varchar(32) NOT NULL, sender varchar(300) NOT NULL,
      recipient varchar(300) NOT NULL, process_id varchar(100) NULL, ref_id varchar(100) NULL,
      content_hash varchar(64) NULL, body text NOT NULL, jws text NOT NULL, hash varchar(64) NOT NULL,
      sent_at varchar(32) NOT NULL, received_at varchar(32) NOT NULL, status varchar(16) NOT NULL,
      ack_jws text NULL, ack_hash varchar(64) NULL, acked_at varchar(32) NULL)`);
    await q.query('CREATE INDEX tessera_exchange_message_sender ON tessera_exchange_message (sender, received_at)');
    await q.query(
      'CREATE INDEX tessera_exchange_message_recipient ON tessera_exchange_message (recipient, received_at)',
    );
    await q.query('CREATE INDEX tessera_exchange_message_process ON tessera_exchange_message (process_id)');
    await q.query(`CREATE TABLE tessera_exchange_consent (
      id varchar(100) PRIMARY KEY, controller varchar(300) NOT NULL, recipient varchar(300) NOT NULL,
      subject varchar(300) NOT NULL, purpose varchar(500) NOT NULL, third_party_disclosure integer NOT NULL,
      third_parties text NULL, exchange_ids text NULL, expires_at varchar(32) NOT NULL, status varchar(16) NOT NULL,
      revoked_by varchar(100) NULL, revoked_at varchar(32) NULL)`);
    await q.query(`CREATE TABLE tessera_exchange_process (
      id varchar(100) PRIMARY KEY, template varchar(64) NOT NULL, initiator varchar(300) NOT NULL,
      counterparty varchar(300) NOT NULL, status varchar(16) NOT NULL, steps text NOT NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE tessera_exchange_trail (
      seq integer PRIMARY KEY, at varchar(32) NOT NULL, actor varchar(300) NOT NULL, action varchar(64) NOT NULL,
      details text NOT NULL, prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['trail', 'process', 'consent', 'message', 'partner']) {
      await q.query(`DROP TABLE tessera_exchange_${t}`);
    }
  }
}

export const exchangeDatabaseParts = {
  entities: [PartnerEntity, MessageEntity, ConsentEntity, ProcessEntity, TrailEntity],
  migrations: [ExchangeMigration1763790000000],
};

/**
 * Conflicts between writers that are settled by running the transaction again: two replicas appending the same trail
 * seq (primary key), PostgreSQL serialization failures and deadlocks, SQLite's busy refusal. The re-run re-reads
 * everything, so a message that lost the race is then checked against what the winner wrote.
 */
export function isRetryable(e: unknown): boolean {
  return isTransientConflict(e) || isUniqueViolation(e, 'tessera_exchange_trail');
}

const MAX_ATTEMPTS = 5;
/** The PostgreSQL advisory lock of the exchange's writers (any constant, unique among the stack's advisory locks). */
export const EXCHANGE_LOCK_KEY = 0x7e55_e4a0;

/** Transactions of the exchange domain: a message, its effects and its trail entry commit together. */
export class ExchangeStore {
  /** SQLite has one connection per process: its transactions must not interleave, so they queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly ds: DataSource) {}

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    const pg = this.ds.options.type === 'postgres';
    // The checks of a message read what earlier messages wrote (answered? consent revoked? step open?): writers take
    // turns on a transaction-scoped advisory lock, so no check runs on a state another writer is changing. Under READ
    // COMMITTED each statement after the lock then sees everything committed before it.
    const once = () =>
      this.ds.transaction(async (m) => {
        if (pg) await m.query('SELECT pg_advisory_xact_lock($1)', [EXCHANGE_LOCK_KEY]);
        return fn(m);
      });
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once();
        } catch (e) {
          if (attempt >= MAX_ATTEMPTS || !isRetryable(e)) throw e;
        }
      }
    };
    if (pg) return run();
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
