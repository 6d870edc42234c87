import {
  type DataSource,
  EntitySchema,
  type EntityManager,
  In,
  type MigrationInterface,
  type QueryRunner,
} from 'typeorm';

/**
 * Durable state of Whiteflag: what the listener received (every transaction whose data is a Whiteflag message, with
 * its authentication and decryption as judged at receipt), the originators' authentications, the listener's cursor
 * and the hashes of the blocks it processed (to notice a reorganisation), and on the sending side the originators'
 * accounts, the messages sent and the areas devices receive signals for. Portable SQL (varchar, text, integer).
 */

/**
 * `valid`: decoded (and decrypted) and meets the standard; `invalid`: it does not (`errorCode` says why);
 * `encrypted`: waiting for its initialisation vector; `undecryptable`: no key held decrypts it.
 */
export type MessageState = 'valid' | 'invalid' | 'encrypted' | 'undecryptable';
/**
 * `authenticated`: the sending account had a verified authentication message when this one was mined;
 * `unauthenticated`: it had none; `failed`: its last authentication message did not verify.
 */
export type AuthStatus = 'authenticated' | 'unauthenticated' | 'failed';

export interface ReceivedRow {
  txHash: string;
  blockNumber: number;
  blockHash: string;
  txIndex: number;
  /** The sending account, lower-case. */
  originator: string;
  /** The transaction data as received (hex, no 0x): encrypted messages stay encrypted here. */
  encoded: string;
  messageCode: string | null;
  referenceIndicator: string | null;
  referencedMessage: string | null;
  encryptionIndicator: string;
  /** The message in its JSON form (decrypted when it was encrypted), or null while it cannot be read. */
  json: string | null;
  state: MessageState;
  errorCode: string | null;
  errorMessage: string | null;
  auth: AuthStatus;
  originatorDid: string | null;
  deviceId: string | null;
  authMethod: string | null;
  /** The authentication message (transaction hash) that vouched for the originator. */
  authMessage: string | null;
  /** Which key decrypted it: `psk:<name>` or `ecdh:<account>`. */
  decryptedWith: string | null;
  /** 0 once a reorganisation took its block off the canonical chain (and until a new block includes it again). */
  canonical: number;
  /** 1 once delivered to the devices of its area (MQTT), so a restart does not deliver it again. */
  delivered: number;
  receivedAt: string;
}

export type AuthenticationStatus = 'verified' | 'failed' | 'discontinued';

export interface AuthenticationRow {
  /** The `A` message. */
  txHash: string;
  originator: string;
  blockNumber: number;
  txIndex: number;
  method: string;
  status: AuthenticationStatus;
  did: string | null;
  deviceId: string | null;
  name: string | null;
  reason: string | null;
  canonical: number;
}

export interface CursorRow {
  name: string;
  blockNumber: number;
  blockHash: string;
  updatedAt: string;
}

export interface BlockRow {
  name: string;
  blockNumber: number;
  blockHash: string;
}

export type AccountKind = 'did' | 'device';

export interface AccountRow {
  /** The sending account, lower-case. */
  address: string;
  kind: AccountKind;
  keyName: string;
  /** The originator's DID (a device's did:ethr for devices). */
  did: string;
  deviceId: string | null;
  /** The name in the signed statement (method 1). */
  name: string | null;
  /** The outbox key of its authentication message, once sent. */
  authKey: string | null;
  /** The outbox key of its ECDH public key message (K0A), once sent. */
  ecdhKey: string | null;
  createdAt: string;
}

export interface SentRow {
  /** `<account>:<requestId>`. */
  id: string;
  account: string;
  messageCode: string;
  /** Outbox key of the message, and of the initialisation vector that follows an encrypted one. */
  messageKey: string;
  ivKey: string | null;
  /** The initialisation vector (public once sent), kept so a crash between the two sends is finished at start. */
  iv: string | null;
  ivType: string | null;
  createdAt: string;
}

export interface AreaRow {
  deviceId: string;
  did: string;
  latitude: number;
  longitude: number;
  radiusM: number;
  updatedAt: string;
}

export const ReceivedEntity = new EntitySchema<ReceivedRow>({
  name: 'WhiteflagReceivedRow',
  tableName: 'tessera_whiteflag_message',
  columns: {
    txHash: { name: 'tx_hash', type: 'varchar', length: 66, primary: true },
    blockNumber: { name: 'block_number', type: 'integer' },
    blockHash: { name: 'block_hash', type: 'varchar', length: 66 },
    txIndex: { name: 'tx_index', type: 'integer' },
    originator: { type: 'varchar', length: 42 },
    encoded: { type: 'text' },
    messageCode: { name: 'message_code', type: 'varchar', length: 1, nullable: true },
    referenceIndicator: { name: 'reference_indicator', type: 'varchar', length: 1, nullable: true },
    referencedMessage: { name: 'referenced_message', type: 'varchar', length: 64, nullable: true },
    encryptionIndicator: { name: 'encryption_indicator', type: 'varchar', length: 1 },
    json: { type: 'text', nullable: true },
    state: { type: 'varchar', length: 16 },
    errorCode: { name: 'error_code', type: 'varchar', length: 64, nullable: true },
    errorMessage: { name: 'error_message', type: 'text', nullable: true },
    auth: { type: 'varchar', length: 16 },
    originatorDid: { name: 'originator_did', type: 'varchar', length: 512, nullable: true },
    deviceId: { name: 'device_id', type: 'varchar', length: 66, nullable: true },
    authMethod: { name: 'auth_method', type: 'varchar', length: 1, nullable: true },
    authMessage: { name: 'auth_message', type: 'varchar', length: 66, nullable: true },
    decryptedWith: { name: 'decrypted_with', type: 'varchar', length: 200, nullable: true },
    canonical: { type: 'integer' },
    delivered: { type: 'integer' },
    receivedAt: { name: 'received_at', type: 'varchar', length: 32 },
  },
});

export const AuthenticationEntity = new EntitySchema<AuthenticationRow>({
  name: 'WhiteflagAuthenticationRow',
  tableName: 'tessera_whiteflag_authentication',
  columns: {
    txHash: { name: 'tx_hash', type: 'varchar', length: 66, primary: true },
    originator: { type: 'varchar', length: 42 },
    blockNumber: { name: 'block_number', type: 'integer' },
    txIndex: { name: 'tx_index', type: 'integer' },
    method: { type: 'varchar', length: 1 },
    status: { type: 'varchar', length: 16 },
    did: { type: 'varchar', length: 512, nullable: true },
    deviceId: { name: 'device_id', type: 'varchar', length: 66, nullable: true },
    name: { type: 'varchar', length: 200, nullable: true },
    reason: { type: 'text', nullable: true },
    canonical: { type: 'integer' },
  },
});

export const CursorEntity = new EntitySchema<CursorRow>({
  name: 'WhiteflagCursorRow',
  tableName: 'tessera_whiteflag_cursor',
  columns: {
    name: { type: 'varchar', length: 64, primary: true },
    blockNumber: { name: 'block_number', type: 'integer' },
    blockHash: { name: 'block_hash', type: 'varchar', length: 66 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const BlockEntity = new EntitySchema<BlockRow>({
  name: 'WhiteflagBlockRow',
  tableName: 'tessera_whiteflag_block',
  columns: {
    name: { type: 'varchar', length: 64, primary: true },
    blockNumber: { name: 'block_number', type: 'integer', primary: true },
    blockHash: { name: 'block_hash', type: 'varchar', length: 66 },
  },
});

export const AccountEntity = new EntitySchema<AccountRow>({
  name: 'WhiteflagAccountRow',
  tableName: 'tessera_whiteflag_account',
  columns: {
    address: { type: 'varchar', length: 42, primary: true },
    kind: { type: 'varchar', length: 16 },
    keyName: { name: 'key_name', type: 'varchar', length: 64 },
    did: { type: 'varchar', length: 512 },
    deviceId: { name: 'device_id', type: 'varchar', length: 66, nullable: true },
    name: { type: 'varchar', length: 200, nullable: true },
    authKey: { name: 'auth_key', type: 'varchar', length: 200, nullable: true },
    ecdhKey: { name: 'ecdh_key', type: 'varchar', length: 200, nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
  },
});

export const SentEntity = new EntitySchema<SentRow>({
  name: 'WhiteflagSentRow',
  tableName: 'tessera_whiteflag_sent',
  columns: {
    id: { type: 'varchar', length: 200, primary: true },
    account: { type: 'varchar', length: 42 },
    messageCode: { name: 'message_code', type: 'varchar', length: 1 },
    messageKey: { name: 'message_key', type: 'varchar', length: 200 },
    ivKey: { name: 'iv_key', type: 'varchar', length: 200, nullable: true },
    iv: { type: 'varchar', length: 32, nullable: true },
    ivType: { name: 'iv_type', type: 'varchar', length: 2, nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
  },
});

export const AreaEntity = new EntitySchema<AreaRow>({
  name: 'WhiteflagAreaRow',
  tableName: 'tessera_whiteflag_area',
  columns: {
    deviceId: { name: 'device_id', type: 'varchar', length: 66, primary: true },
    did: { type: 'varchar', length: 512 },
    latitude: { type: 'double precision' },
    longitude: { type: 'double precision' },
    radiusM: { name: 'radius_m', type: 'integer' },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export class WhiteflagMigration1765000000000 implements MigrationInterface {
  name = 'WhiteflagMigration1765000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_whiteflag_message (
      tx_hash varchar(66) PRIMARY KEY, block_number integer NOT NULL, block_hash varchar(66) NOT NULL,
      tx_index integer NOT NULL, originator varchar(42) NOT NULL, encoded text NOT NULL,
      message_code varchar(1) NULL, reference_indicator varchar(1) NULL, referenced_message varchar(64) NULL,
      encryption_indicator varchar(1) NOT NULL, json text NULL, state varchar(16) NOT NULL,
      error_code varchar(64) NULL, error_message text NULL, auth varchar(16) NOT NULL,
      originator_did varchar(512) NULL, device_id varchar(66) NULL, auth_method varchar(1) NULL,
      auth_message varchar(66) NULL, decrypted_with varchar(200) NULL, canonical integer NOT NULL,
      delivered integer NOT NULL, received_at varchar(32) NOT NULL)`);
    await q.query('CREATE INDEX tessera_whiteflag_message_order ON tessera_whiteflag_message (block_number, tx_index)');
    await q.query(
      'CREATE INDEX tessera_whiteflag_message_ref ON tessera_whiteflag_message (referenced_message, originator)',
    );
    await q.query(
      'CREATE INDEX tessera_whiteflag_message_from ON tessera_whiteflag_message (originator, message_code)',
    );
    await q.query(`CREATE TABLE tessera_whiteflag_authentication (
      tx_hash varchar(66) PRIMARY KEY, originator varchar(42) NOT NULL, block_number integer NOT NULL,
      tx_index integer NOT NULL, method varchar(1) NOT NULL, status varchar(16) NOT NULL, did varchar(512) NULL,
      device_id varchar(66) NULL, name varchar(200) NULL, reason text NULL, canonical integer NOT NULL)`);
    await q.query(
      'CREATE INDEX tessera_whiteflag_authentication_from ON tessera_whiteflag_authentication (originator, block_number)',
    );
    await q.query(`CREATE TABLE tessera_whiteflag_cursor (
      name varchar(64) PRIMARY KEY, block_number integer NOT NULL, block_hash varchar(66) NOT NULL,
      updated_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE tessera_whiteflag_block (
      name varchar(64) NOT NULL, block_number integer NOT NULL, block_hash varchar(66) NOT NULL,
      PRIMARY KEY (name, block_number))`);
    await q.query(`CREATE TABLE tessera_whiteflag_account (
      address varchar(42) PRIMARY KEY, kind varchar(16) NOT NULL, key_name varchar(64) NOT NULL,
      did varchar(512) NOT NULL, device_id varchar(66) NULL, name varchar(200) NULL, auth_key varchar(200) NULL,
      ecdh_key varchar(200) NULL, created_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE tessera_whiteflag_sent (
      id varchar(200) PRIMARY KEY, account varchar(42) NOT NULL, message_code varchar(1) NOT NULL,
      message_key varchar(200) NOT NULL, iv_key varchar(200) NULL, iv varchar(32) NULL, iv_type varchar(2) NULL,
      created_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE tessera_whiteflag_area (
      device_id varchar(66) PRIMARY KEY, did varchar(512) NOT NULL, latitude double precision NOT NULL,
      longitude double precision NOT NULL, radius_m integer NOT NULL, updated_at varchar(32) NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['area', 'sent', 'account', 'block', 'cursor', 'authentication', 'message'])
      await q.query(`DROP TABLE tessera_whiteflag_${t}`);
  }
}

export const whiteflagDatabaseParts = {
  entities: [ReceivedEntity, AuthenticationEntity, CursorEntity, BlockEntity, AccountEntity, SentEntity, AreaEntity],
  migrations: [WhiteflagMigration1765000000000],
};

export interface ReceivedQuery {
  messageCode?: string;
  auth?: AuthStatus;
  originator?: string;
  /** Only messages after this block. */
  sinceBlock?: number;
  /** Include messages a reorganisation took off the chain. */
  includeOrphaned?: boolean;
  limit: number;
}

/** Reads and writes of the Whiteflag tables; writes that belong together take an EntityManager (one transaction). */
export class WhiteflagStore {
  constructor(readonly dataSource: DataSource) {}

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  received(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(ReceivedEntity);
  }
  authentications(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(AuthenticationEntity);
  }
  cursors(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(CursorEntity);
  }
  blocks(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(BlockEntity);
  }
  accounts(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(AccountEntity);
  }
  sent(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(SentEntity);
  }
  areas(m: EntityManager = this.dataSource.manager) {
    return m.getRepository(AreaEntity);
  }

  /** Received messages, newest first. */
  async list(q: ReceivedQuery): Promise<ReceivedRow[]> {
    const qb = this.received().createQueryBuilder('m');
    if (!q.includeOrphaned) qb.andWhere('m.canonical = 1');
    if (q.messageCode) qb.andWhere('m.message_code = :code', { code: q.messageCode });
    if (q.auth) qb.andWhere('m.auth = :auth', { auth: q.auth });
    if (q.originator) qb.andWhere('m.originator = :o', { o: q.originator.toLowerCase() });
    if (q.sinceBlock !== undefined) qb.andWhere('m.block_number > :b', { b: q.sinceBlock });
    return qb.orderBy('m.block_number', 'DESC').addOrderBy('m.tx_index', 'DESC').take(q.limit).getMany();
  }

  /** The messages that reference `txHash` (the next links of its chains). */
  referencing(txHash: string): Promise<ReceivedRow[]> {
    return this.received().find({
      where: { referencedMessage: txHash.replace(/^0x/, '').toLowerCase(), canonical: 1 },
      order: { blockNumber: 'ASC', txIndex: 'ASC' },
    });
  }

  /**
   * §5.2.2: an account's ECDH public key is the one of its latest valid K(0)0A or K(2)0A seen here (a later K0A with
   * another key replaces it).
   */
  async ecdhPublicKeyOf(address: string, m: EntityManager = this.dataSource.manager): Promise<string | undefined> {
    const rows = await this.received(m).find({
      where: { originator: address.toLowerCase(), messageCode: 'K', state: 'valid', canonical: 1 },
      order: { blockNumber: 'DESC', txIndex: 'DESC' },
      take: 50,
    });
    for (const r of rows) {
      const msg = JSON.parse(r.json!) as {
        MessageHeader: { ReferenceIndicator: string };
        MessageBody: Record<string, string>;
      };
      if (msg.MessageBody['CryptoDataType'] === '0A' && ['0', '2'].includes(msg.MessageHeader.ReferenceIndicator))
        return msg.MessageBody['CryptoData'];
    }
    return undefined;
  }

  byHashes(hashes: string[]): Promise<ReceivedRow[]> {
    return hashes.length === 0 ? Promise.resolve([]) : this.received().findBy({ txHash: In(hashes) });
  }
}
