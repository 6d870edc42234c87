import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Logger, TesseraError, seal, unseal } from '@tessera/protocol';
import { writeFileAtomic } from '@tessera/runtime';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a replica needs from the first one's data directory, kept in the shared database so that a replica joins from
 * configuration alone: the sealed keystore (relayer, issuer, verifier… keys), the contract deployments, the issuer's
 * key-encryption key and the root admin's wallet. Each is sealed (AES-256-GCM) under the master key, which only the
 * configuration holds (TESSERA_MASTER_KEY): the database alone discloses none of them.
 */
export const SHARED_FILES = ['keys/keystore.json', 'deployments.json', 'issuer-kms.key', 'root-admin-wallet.json'];
/** The keystore is merged key by key (a replica may create a key the first one has not used yet). */
const KEYSTORE = 'keys/keystore.json';

export class ReplicaFilesMigration1764000000000 implements MigrationInterface {
  name = 'ReplicaFilesMigration1764000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_replica_file (
      name varchar(200) PRIMARY KEY, sealed text NOT NULL, sha256 varchar(64) NOT NULL, updated_at varchar(32) NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_replica_file');
  }
}

export const replicaFilesDatabaseParts = { entities: [], migrations: [ReplicaFilesMigration1764000000000] };

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const aad = (name: string) => `tessera-replica-file:${name}`;

type Keys = Record<string, { address: string }>;

function mergeKeystores(a: Keys, b: Keys, name: string): Keys {
  const out: Keys = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (out[k] && out[k].address !== v.address)
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `the key '${k}' of this data directory is not the one the other replicas use (${name}); start the replica with an empty data directory`,
      );
    out[k] = out[k] ?? v;
  }
  return out;
}

export class SharedFiles {
  private readonly master: Buffer;
  private readonly p: (i: number) => string;

  constructor(
    private readonly db: DataSource,
    private readonly dataDir: string,
    masterKeyHex: string,
    private readonly log: Logger,
  ) {
    this.master = Buffer.from(masterKeyHex, 'hex');
    this.p = db.options.type === 'postgres' ? (i) => `$${i}` : () => '?';
  }

  private async row(name: string): Promise<Buffer | undefined> {
    const rows = (await this.db.query(`SELECT sealed FROM tessera_replica_file WHERE name = ${this.p(1)}`, [name])) as {
      sealed: string;
    }[];
    if (!rows[0]) return undefined;
    try {
      return unseal(this.master, rows[0].sealed, aad(name));
    } catch (cause) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `the shared ${name} cannot be unsealed: TESSERA_MASTER_KEY is not the one the other replicas use`,
        { cause },
      );
    }
  }

  private async write(name: string, content: Buffer, replace: boolean): Promise<void> {
    const at = new Date().toISOString();
    const sealed = seal(this.master, content, aad(name));
    await this.db.query(
      `INSERT INTO tessera_replica_file (name, sealed, sha256, updated_at) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}, ${this.p(4)})
       ON CONFLICT (name) DO ${replace ? 'UPDATE SET sealed = EXCLUDED.sealed, sha256 = EXCLUDED.sha256, updated_at = EXCLUDED.updated_at' : 'NOTHING'}`,
      [name, sealed, sha(content), at],
    );
  }

  /** Before anything else starts: take what the other replicas share and this data directory lacks. */
  async pull(): Promise<string[]> {
    const taken: string[] = [];
    for (const name of SHARED_FILES) {
      const shared = await this.row(name);
      if (!shared) continue;
      const file = join(this.dataDir, name);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const local = existsSync(file) ? readFileSync(file) : undefined;
      if (local && sha(local) === sha(shared)) continue;
      if (name === KEYSTORE && local) {
        const merged = mergeKeystores(JSON.parse(local.toString('utf8')), JSON.parse(shared.toString('utf8')), name);
        writeFileAtomic(file, JSON.stringify(merged, null, 2), 0o600);
      } else if (local) {
        throw new TesseraError(
          'ERR_CONFIG_INVALID',
          `${file} differs from the one the other replicas share; start the replica with an empty data directory`,
        );
      } else {
        writeFileAtomic(file, shared, 0o600);
      }
      taken.push(name);
    }
    if (taken.length > 0) this.log.info({ files: taken }, 'joined the replicas: shared keys and deployments taken');
    return taken;
  }

  /** Once started: offer what this replica has and the database lacks (the keystore merged key by key). */
  async push(): Promise<string[]> {
    const given: string[] = [];
    for (const name of SHARED_FILES) {
      const file = join(this.dataDir, name);
      if (!existsSync(file)) continue;
      const local = readFileSync(file);
      const shared = await this.row(name);
      if (shared && sha(shared) === sha(local)) continue;
      if (!shared) {
        await this.write(name, local, false);
        given.push(name);
      } else if (name === KEYSTORE) {
        const merged = mergeKeystores(JSON.parse(shared.toString('utf8')), JSON.parse(local.toString('utf8')), name);
        await this.write(name, Buffer.from(JSON.stringify(merged, null, 2)), true);
        given.push(name);
      } else {
        this.log.warn({ file: name }, 'this replica’s file differs from the shared one; the shared one is kept');
      }
    }
    return given;
  }
}
