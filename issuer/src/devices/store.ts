import { hkdfSync } from 'node:crypto';
import { DEVICE_COMMITMENT_SALT_BYTES, deviceSecretAad, seal, TesseraError, unseal } from '@tessera/protocol';
import { type DataSource, EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The issuer's device tables: the registration record of each device (public facts, its batch and Merkle proof, the
 * owner it is assigned to) and, apart, its sealed pre-shared secret (the handshake verifier's vault). The lifecycle
 * state is not copied here: the chain decides, and is read from it.
 */
export interface DeviceRow {
  deviceId: string;
  /** DID of the manufacturer that registered it (the caller's DID). */
  manufacturer: string;
  /** DID of the owner it is assigned to (at registration, or by the first owner who commissions it). */
  owner: string | null;
  /** DeviceRegistry batch id; null until the batch transaction is mined. */
  batchId: number | null;
  batchRoot: string;
  fingerprint: string;
  commitment: string;
  /** JSON array of the leaf's Merkle proof (bytes32 hex). */
  proof: string;
  /** JSON of the canonical characteristics. */
  characteristics: string;
  /** The device's DID key address, bound at commissioning. */
  identity: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeviceSecretRow {
  deviceId: string;
  /** Hex of the commitment salt (not secret; it is stored beside the sealed secret). */
  salt: string;
  /** protocol `seal` output, AAD `deviceSecretAad(deviceId)`. */
  sealed: string;
  createdAt: string;
}

export const DeviceEntity = new EntitySchema<DeviceRow>({
  name: 'IssuerDevice',
  tableName: 'issuer_devices',
  columns: {
    deviceId: { name: 'device_id', type: 'varchar', length: 66, primary: true },
    manufacturer: { type: 'varchar', length: 512 },
    owner: { type: 'varchar', length: 512, nullable: true },
    batchId: { name: 'batch_id', type: 'integer', nullable: true },
    batchRoot: { name: 'batch_root', type: 'varchar', length: 66 },
    fingerprint: { type: 'varchar', length: 66 },
    commitment: { type: 'varchar', length: 66 },
    proof: { type: 'text' },
    characteristics: { type: 'text' },
    identity: { type: 'varchar', length: 42, nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export const DeviceSecretEntity = new EntitySchema<DeviceSecretRow>({
  name: 'IssuerDeviceSecret',
  tableName: 'issuer_device_secrets',
  columns: {
    deviceId: { name: 'device_id', type: 'varchar', length: 66, primary: true },
    salt: { type: 'varchar', length: 64 },
    sealed: { type: 'text' },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
  },
});

export class IssuerDevices1763700000004 implements MigrationInterface {
  name = 'IssuerDevices1763700000004';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_devices (
      device_id varchar(66) PRIMARY KEY, manufacturer varchar(512) NOT NULL, owner varchar(512) NULL,
      batch_id integer NULL, batch_root varchar(66) NOT NULL, fingerprint varchar(66) NOT NULL,
      commitment varchar(66) NOT NULL, proof text NOT NULL, characteristics text NOT NULL, identity varchar(42) NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query('CREATE INDEX issuer_devices_manufacturer ON issuer_devices (manufacturer, created_at)');
    await q.query('CREATE INDEX issuer_devices_owner ON issuer_devices (owner)');
    await q.query(`CREATE TABLE issuer_device_secrets (
      device_id varchar(66) PRIMARY KEY, salt varchar(64) NOT NULL, sealed text NOT NULL,
      created_at varchar(32) NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_device_secrets');
    await q.query('DROP TABLE issuer_devices');
  }
}

/**
 * A multi-step device operation (a batch registration, a commissioning) recorded before its chain write, so that a
 * crash between the chain and the database is finished at the next start or by a retry with the same request id.
 * `payload` holds what the chain write needs again (its call data) and what the database step records.
 */
export interface DeviceIntentRow {
  /** sha256(caller DID, request id): a request id is the caller's own. */
  id: string;
  kind: 'register' | 'commission';
  caller: string;
  /** The batch root (register) or the device id (commission). */
  target: string;
  outboxKey: string;
  payload: string;
  status: 'pending' | 'done' | 'failed';
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

export const DeviceIntentEntity = new EntitySchema<DeviceIntentRow>({
  name: 'IssuerDeviceIntent',
  tableName: 'issuer_device_intents',
  columns: {
    id: { type: 'varchar', length: 64, primary: true },
    kind: { type: 'varchar', length: 16 },
    caller: { type: 'varchar', length: 512 },
    target: { type: 'varchar', length: 66 },
    outboxKey: { name: 'outbox_key', type: 'varchar', length: 200 },
    payload: { type: 'text' },
    status: { type: 'varchar', length: 16 },
    error: { type: 'text', nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export class IssuerDeviceIntents1763700000006 implements MigrationInterface {
  name = 'IssuerDeviceIntents1763700000006';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_device_intents (
      id varchar(64) PRIMARY KEY, kind varchar(16) NOT NULL, caller varchar(512) NOT NULL, target varchar(66) NOT NULL,
      outbox_key varchar(200) NOT NULL, payload text NOT NULL, status varchar(16) NOT NULL, error text NULL,
      created_at varchar(32) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query('CREATE INDEX issuer_device_intents_status ON issuer_device_intents (status)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_device_intents');
  }
}

/**
 * The key that seals device secrets, derived from the issuer's secret-box key (HKDF-SHA256, RFC 5869) so that the
 * two uses never share a key.
 */
export function deviceVaultKey(secretBoxKeyHex: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secretBoxKeyHex, 'hex'), '', 'tessera.device-vault.v1', 32));
}

/**
 * The handshake verifier's DeviceSecretVault (verifier/src/handshake/vault.ts) on the issuer's database, SQLite or
 * PostgreSQL: each secret sealed with protocol `seal` under a 32-byte key kept outside the database, the AAD naming
 * the device (as FileDeviceSecretVault does), so a sealed secret copied into another device's row does not open.
 */
export class DbDeviceSecretVault {
  constructor(
    private readonly dataSource: DataSource,
    private readonly key: Uint8Array,
  ) {
    if (key.length !== 32) throw new TesseraError('ERR_CONFIG_INVALID', 'the device vault key must be 32 bytes');
  }

  private get repo() {
    return this.dataSource.getRepository(DeviceSecretEntity);
  }

  async get(deviceId: string): Promise<{ secret: Buffer; salt: Buffer } | undefined> {
    const row = await this.repo.findOneBy({ deviceId: deviceId.toLowerCase() });
    if (!row) return undefined;
    return { secret: unseal(this.key, row.sealed, deviceSecretAad(deviceId)), salt: Buffer.from(row.salt, 'hex') };
  }

  async put(deviceId: string, secret: Uint8Array, salt: Uint8Array): Promise<void> {
    await this.repo.save(this.row(deviceId, secret, salt));
  }

  /** The row `put` would write, for callers that insert it in their own transaction. */
  row(deviceId: string, secret: Uint8Array, salt: Uint8Array): DeviceSecretRow {
    if (salt.length !== DEVICE_COMMITMENT_SALT_BYTES) throw new Error('the commitment salt must be 32 bytes');
    return {
      deviceId: deviceId.toLowerCase(),
      salt: Buffer.from(salt).toString('hex'),
      sealed: seal(this.key, secret, deviceSecretAad(deviceId)),
      createdAt: new Date().toISOString(),
    };
  }

  async delete(deviceId: string): Promise<void> {
    await this.repo.delete({ deviceId: deviceId.toLowerCase() });
  }

  async list(): Promise<string[]> {
    return (await this.repo.find({ select: { deviceId: true }, order: { deviceId: 'ASC' } })).map((r) => r.deviceId);
  }
}
