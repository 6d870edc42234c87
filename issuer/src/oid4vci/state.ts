import { createHash } from 'node:crypto';
import { type DataSource, EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * What OpenID4VCI keeps between requests, in the issuer's database so that every replica sees the same: pre-authorized
 * codes (with their transaction code and the wrong guesses counted), authorization codes with their PKCE challenge,
 * access tokens with their DPoP key, `c_nonce`s from the nonce endpoint, DPoP proof ids already seen, and offers
 * handed out by reference. Each is found by the hash of its secret; single use is one conditional UPDATE.
 */
export type Oid4vciStateKind = 'pre-auth' | 'auth-code' | 'access' | 'c-nonce' | 'dpop-jti' | 'offer';

export interface Oid4vciStateRow {
  key: string;
  kind: string;
  data: string;
  expiresAt: string;
  usedAt: string | null;
  attempts: number;
}

export const Oid4vciStateEntity = new EntitySchema<Oid4vciStateRow>({
  name: 'IssuerOid4vciState',
  tableName: 'issuer_oid4vci_state',
  columns: {
    key: { type: 'varchar', length: 64, primary: true },
    kind: { type: 'varchar', length: 16 },
    data: { type: 'text' },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32 },
    usedAt: { name: 'used_at', type: 'varchar', length: 32, nullable: true },
    attempts: { type: 'integer' },
  },
});

export class IssuerOid4vci1763700000005 implements MigrationInterface {
  name = 'IssuerOid4vci1763700000005';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_oid4vci_state (
      key varchar(64) PRIMARY KEY, kind varchar(16) NOT NULL, data text NOT NULL,
      expires_at varchar(32) NOT NULL, used_at varchar(32) NULL, attempts integer NOT NULL)`);
    await q.query('CREATE INDEX issuer_oid4vci_state_expiry ON issuer_oid4vci_state (expires_at)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_oid4vci_state');
  }
}

const isUniqueViolation = (e: unknown): boolean => {
  const d = (e as { driverError?: { code?: string } })?.driverError ?? (e as { code?: string });
  const code = String(d?.code ?? '');
  return code === '23505' || code.startsWith('SQLITE_CONSTRAINT');
};

/** Single-use, expiring entries keyed by the hash of a secret (the secret itself is never stored). */
export class Oid4vciState {
  constructor(
    private readonly ds: DataSource,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private key(kind: Oid4vciStateKind, secret: string): string {
    return createHash('sha256').update(`${kind}:${secret}`).digest('hex');
  }
  private repo() {
    return this.ds.getRepository(Oid4vciStateEntity);
  }

  /** Store `data` under `secret`; false when that secret is already there (a replayed DPoP `jti`, a collision). */
  async put(kind: Oid4vciStateKind, secret: string, data: unknown, ttlMs: number): Promise<boolean> {
    const at = this.now();
    try {
      await this.repo().insert({
        key: this.key(kind, secret),
        kind,
        data: JSON.stringify(data ?? null),
        expiresAt: new Date(at.getTime() + ttlMs).toISOString(),
        usedAt: null,
        attempts: 0,
      });
      return true;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      // An expired entry may be taken over (a DPoP jti is only remembered while its proof could still be accepted).
      const res = await this.repo()
        .createQueryBuilder()
        .update()
        .set({
          data: JSON.stringify(data ?? null),
          expiresAt: new Date(at.getTime() + ttlMs).toISOString(),
          usedAt: null,
          attempts: 0,
        })
        .where('key = :k AND expires_at <= :now', { k: this.key(kind, secret), now: at.toISOString() })
        .execute();
      return res.affected === 1;
    }
  }

  /** The live (unexpired, unused) entry for `secret`, with its wrong-guess count. */
  async get<T>(kind: Oid4vciStateKind, secret: string): Promise<{ data: T; attempts: number } | undefined> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return undefined;
    const row = await this.repo().findOneBy({ key: this.key(kind, secret) });
    if (!row || row.kind !== kind || row.usedAt !== null || row.expiresAt <= this.now().toISOString()) return undefined;
    return { data: JSON.parse(row.data) as T, attempts: row.attempts };
  }

  /** Why `secret` is not live: never issued (or purged), spent, or expired; 'live' when it is. */
  async status(kind: Oid4vciStateKind, secret: string): Promise<'unknown' | 'used' | 'expired' | 'live'> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return 'unknown';
    const row = await this.repo().findOneBy({ key: this.key(kind, secret) });
    if (!row || row.kind !== kind) return 'unknown';
    if (row.usedAt !== null) return 'used';
    return row.expiresAt <= this.now().toISOString() ? 'expired' : 'live';
  }

  /** Spend `secret` once, on every replica: its data, or undefined when unknown, expired or already spent. */
  async consume<T>(kind: Oid4vciStateKind, secret: string, maxAttempts = 2 ** 31 - 1): Promise<T | undefined> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return undefined;
    const at = this.now().toISOString();
    const key = this.key(kind, secret);
    const res = await this.repo()
      .createQueryBuilder()
      .update()
      .set({ usedAt: at })
      .where('key = :key AND kind = :kind AND used_at IS NULL AND expires_at > :at AND attempts < :max', {
        key,
        kind,
        at,
        max: maxAttempts,
      })
      .execute();
    if (res.affected !== 1) return undefined;
    const row = await this.repo().findOneBy({ key });
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  /** Count one wrong guess against `secret` (conditional, so concurrent guesses on other replicas all count). */
  async failAttempt(kind: Oid4vciStateKind, secret: string): Promise<number> {
    const key = this.key(kind, secret);
    await this.repo()
      .createQueryBuilder()
      .update()
      .set({ attempts: () => 'attempts + 1' })
      .where('key = :key AND used_at IS NULL', { key })
      .execute();
    return (await this.repo().findOneBy({ key }))?.attempts ?? 0;
  }

  /** Drop what has expired (called now and then; expired entries are refused anyway). */
  async purge(): Promise<void> {
    await this.repo()
      .createQueryBuilder()
      .delete()
      .where('expires_at <= :at', { at: this.now().toISOString() })
      .execute();
  }
}
