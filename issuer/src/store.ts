import type { ChainRow } from '@tessera/contracts';
import { Entities as VeramoEntities, migrations as veramoMigrations } from '@veramo/data-store';
import { type DatabaseConfig, openDatabase, outboxDatabaseParts } from '@tessera/contracts';
import {
  DeviceEntity,
  DeviceIntentEntity,
  DeviceSecretEntity,
  IssuerDeviceIntents1763700000006,
  IssuerDevices1763700000004,
} from './devices/store.js';
import { IssuerParties1763700000003, PartyEntity } from './parties.js';
import { IssuerOid4vci1763700000005, Oid4vciStateEntity } from './oid4vci/state.js';
import { type DataSource, EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The issuer's own tables, beside Veramo's (keys, identifiers). Plain SQL types that mean the same on SQLite and
 * PostgreSQL; timestamps are ISO 8601 strings (they sort as text), JSON is stored as text.
 */
export type CredentialStatus = 'active' | 'suspended' | 'revoked';

export interface CredentialRow {
  id: string;
  type: string;
  subject: string;
  issuer: string;
  status: CredentialStatus;
  statusList: number;
  statusIndex: number;
  /** JSON of the validated claims. */
  claims: string;
  jwt: string;
  issuedAt: string;
  expiresAt: string;
  updatedAt: string;
}

export interface StatusListRow {
  id: number;
  /** Number of entries (bits) in each of the list's bitstrings. */
  size: number;
  /** Bumped in the same transaction as every status change of a credential on this list. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A row of the audit trail: contracts' hash-chain row. */
export type AuditRow = ChainRow;

export const CredentialEntity = new EntitySchema<CredentialRow>({
  name: 'IssuerCredential',
  tableName: 'issuer_credentials',
  columns: {
    id: { type: 'varchar', length: 100, primary: true },
    type: { type: 'varchar', length: 64 },
    subject: { type: 'varchar', length: 512 },
    issuer: { type: 'varchar', length: 512 },
    status: { type: 'varchar', length: 16 },
    statusList: { name: 'status_list', type: 'integer' },
    statusIndex: { name: 'status_index', type: 'integer' },
    claims: { type: 'text' },
    jwt: { type: 'text' },
    issuedAt: { name: 'issued_at', type: 'varchar', length: 32 },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const StatusListEntity = new EntitySchema<StatusListRow>({
  name: 'IssuerStatusList',
  tableName: 'issuer_status_lists',
  columns: {
    id: { type: 'integer', primary: true },
    size: { type: 'integer' },
    version: { type: 'integer' },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const AuditEntity = new EntitySchema<AuditRow>({
  name: 'IssuerAuditEntry',
  tableName: 'issuer_audit',
  columns: {
    seq: { type: 'integer', primary: true },
    at: { type: 'varchar', length: 32 },
    actor: { type: 'varchar', length: 512 },
    action: { type: 'varchar', length: 64 },
    details: { type: 'text' },
    prevHash: { name: 'prev_hash', type: 'varchar', length: 64 },
    hash: { type: 'varchar', length: 64 },
  },
});

export class IssuerTables1763700000000 implements MigrationInterface {
  name = 'IssuerTables1763700000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_status_lists (
      id integer PRIMARY KEY, size integer NOT NULL, version integer NOT NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query(`CREATE TABLE issuer_credentials (
      id varchar(100) PRIMARY KEY, type varchar(64) NOT NULL, subject varchar(512) NOT NULL,
      issuer varchar(512) NOT NULL, status varchar(16) NOT NULL,
      status_list integer NOT NULL REFERENCES issuer_status_lists (id), status_index integer NOT NULL,
      claims text NOT NULL, jwt text NOT NULL, issued_at varchar(32) NOT NULL, expires_at varchar(32) NOT NULL,
      updated_at varchar(32) NOT NULL,
      CONSTRAINT issuer_credentials_status_slot UNIQUE (status_list, status_index))`);
    await q.query('CREATE INDEX issuer_credentials_type ON issuer_credentials (type, issued_at)');
    await q.query('CREATE INDEX issuer_credentials_subject ON issuer_credentials (subject, issued_at)');
    await q.query('CREATE INDEX issuer_credentials_status ON issuer_credentials (status, issued_at)');
    await q.query(`CREATE TABLE issuer_audit (
      seq integer PRIMARY KEY, at varchar(32) NOT NULL, actor varchar(512) NOT NULL, action varchar(64) NOT NULL,
      details text NOT NULL, prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_audit');
    await q.query('DROP TABLE issuer_credentials');
    await q.query('DROP TABLE issuer_status_lists');
  }
}

/** A server nonce handed out for an admin presentation; single use (`usedAt` set atomically). */
export interface AuthNonceRow {
  nonce: string;
  expiresAt: string;
  usedAt: string | null;
}

/** A short-lived access token, stored by hash only. */
export interface AccessTokenRow {
  tokenHash: string;
  holder: string;
  /** Comma-separated credential types the holder presented, e.g. `AdminCredential`. */
  roles: string;
  credentialIds: string;
  expiresAt: string;
  createdAt: string;
  revokedAt: string | null;
}

export const AuthNonceEntity = new EntitySchema<AuthNonceRow>({
  name: 'IssuerAuthNonce',
  tableName: 'issuer_auth_nonces',
  columns: {
    nonce: { type: 'varchar', length: 64, primary: true },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    usedAt: { name: 'used_at', type: 'varchar', length: 32, nullable: true },
  },
});

export const AccessTokenEntity = new EntitySchema<AccessTokenRow>({
  name: 'IssuerAccessToken',
  tableName: 'issuer_access_tokens',
  columns: {
    tokenHash: { name: 'token_hash', type: 'varchar', length: 64, primary: true },
    holder: { type: 'varchar', length: 512 },
    roles: { type: 'varchar', length: 200 },
    credentialIds: { name: 'credential_ids', type: 'text' },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    revokedAt: { name: 'revoked_at', type: 'varchar', length: 32, nullable: true },
  },
});

export class IssuerAuth1763700000001 implements MigrationInterface {
  name = 'IssuerAuth1763700000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_auth_nonces (
      nonce varchar(64) PRIMARY KEY, expires_at varchar(32) NOT NULL, used_at varchar(32) NULL)`);
    await q.query('CREATE INDEX issuer_auth_nonces_expiry ON issuer_auth_nonces (expires_at)');
    await q.query(`CREATE TABLE issuer_access_tokens (
      token_hash varchar(64) PRIMARY KEY, holder varchar(512) NOT NULL, roles varchar(200) NOT NULL,
      credential_ids text NOT NULL, expires_at varchar(32) NOT NULL, created_at varchar(32) NOT NULL,
      revoked_at varchar(32) NULL)`);
    await q.query('CREATE INDEX issuer_access_tokens_expiry ON issuer_access_tokens (expires_at)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_access_tokens');
    await q.query('DROP TABLE issuer_auth_nonces');
  }
}

/** A one-time offer of an issued credential to its holder (pre-authorised code, stored hashed). */
export interface OfferRow {
  codeHash: string;
  credentialId: string;
  expiresAt: string;
  createdAt: string;
  redeemedAt: string | null;
}

export const OfferEntity = new EntitySchema<OfferRow>({
  name: 'IssuerOffer',
  tableName: 'issuer_offers',
  columns: {
    codeHash: { name: 'code_hash', type: 'varchar', length: 64, primary: true },
    credentialId: { name: 'credential_id', type: 'varchar', length: 100 },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    redeemedAt: { name: 'redeemed_at', type: 'varchar', length: 32, nullable: true },
  },
});

export class IssuerOffers1763700000002 implements MigrationInterface {
  name = 'IssuerOffers1763700000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_offers (
      code_hash varchar(64) PRIMARY KEY,
      credential_id varchar(100) NOT NULL REFERENCES issuer_credentials (id),
      expires_at varchar(32) NOT NULL, created_at varchar(32) NOT NULL, redeemed_at varchar(32) NULL)`);
    await q.query('CREATE INDEX issuer_offers_credential ON issuer_offers (credential_id)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_offers');
  }
}

/** Entities and migrations to pass to `openDatabase` (Veramo's own first; never `synchronize`). */
export const issuerDatabaseParts = {
  entities: [
    ...VeramoEntities,
    CredentialEntity,
    StatusListEntity,
    AuditEntity,
    AuthNonceEntity,
    AccessTokenEntity,
    OfferEntity,
    PartyEntity,
    DeviceEntity,
    DeviceSecretEntity,
    DeviceIntentEntity,
    Oid4vciStateEntity,
  ],
  migrations: [
    ...veramoMigrations,
    IssuerTables1763700000000,
    IssuerAuth1763700000001,
    IssuerOffers1763700000002,
    IssuerParties1763700000003,
    IssuerDevices1763700000004,
    IssuerOid4vci1763700000005,
    IssuerDeviceIntents1763700000006,
  ],
};

/**
 * Open the issuer's database with its parts and the outbox's (for audit anchoring): PostgreSQL when `url` is given,
 * else SQLite at `sqlitePath`.
 */
export function openIssuerDatabase(db: DatabaseConfig): Promise<DataSource> {
  return openDatabase(db, {
    entities: [...issuerDatabaseParts.entities, ...outboxDatabaseParts.entities],
    migrations: [...issuerDatabaseParts.migrations, ...outboxDatabaseParts.migrations],
  });
}
