import { isUniqueViolation } from '@tessera/contracts';
import { err, isValidLei, ok, parseDid, type Result } from '@tessera/protocol';
import { EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';
import { z } from 'zod';
import type { ActionContext, Issuer } from './issuer.js';

/**
 * People and organisations the issuer knows: a DID (held in the party's own wallet) and a profile. Registering one is
 * an audited admin action; credentials are then issued to the DID.
 */
export interface PartyRow {
  did: string;
  kind: 'person' | 'organisation';
  name: string;
  email: string | null;
  country: string | null;
  lei: string | null;
  registrationId: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export const PartyEntity = new EntitySchema<PartyRow>({
  name: 'IssuerParty',
  tableName: 'issuer_parties',
  columns: {
    did: { type: 'varchar', length: 512, primary: true },
    kind: { type: 'varchar', length: 16 },
    name: { type: 'varchar', length: 200 },
    email: { type: 'varchar', length: 200, nullable: true },
    country: { type: 'varchar', length: 2, nullable: true },
    lei: { type: 'varchar', length: 20, nullable: true },
    registrationId: { name: 'registration_id', type: 'varchar', length: 64, nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    createdBy: { name: 'created_by', type: 'varchar', length: 512 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
  },
});

export class IssuerParties1763700000003 implements MigrationInterface {
  name = 'IssuerParties1763700000003';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE issuer_parties (
      did varchar(512) PRIMARY KEY, kind varchar(16) NOT NULL, name varchar(200) NOT NULL, email varchar(200) NULL,
      country varchar(2) NULL, lei varchar(20) NULL, registration_id varchar(64) NULL,
      created_at varchar(32) NOT NULL, created_by varchar(512) NOT NULL, updated_at varchar(32) NOT NULL)`);
    await q.query('CREATE INDEX issuer_parties_kind ON issuer_parties (kind, created_at)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE issuer_parties');
  }
}

export const PartyInput = z
  .strictObject({
    did: z.string().max(512),
    kind: z.enum(['person', 'organisation']),
    name: z.string().trim().min(1).max(200),
    email: z.email().max(200).optional(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/)
      .optional(),
    lei: z.string().refine(isValidLei, 'must be a valid ISO 17442 LEI').optional(),
    registrationId: z.string().trim().min(1).max(64).optional(),
  })
  .superRefine((p, ctx) => {
    if (!parseDid(p.did).ok || p.did.split(/[/?#]/)[0] !== p.did) {
      ctx.addIssue({ code: 'custom', path: ['did'], message: 'must be a DID' });
    }
    if (p.kind === 'person' && (p.lei !== undefined || p.registrationId !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: 'a person has no LEI or registration id' });
    }
  });
export type PartyInput = z.input<typeof PartyInput>;

export interface Party {
  did: string;
  kind: 'person' | 'organisation';
  name: string;
  email?: string;
  country?: string;
  lei?: string;
  registrationId?: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

const toParty = (r: PartyRow): Party => ({
  did: r.did,
  kind: r.kind,
  name: r.name,
  ...(r.email ? { email: r.email } : {}),
  ...(r.country ? { country: r.country } : {}),
  ...(r.lei ? { lei: r.lei } : {}),
  ...(r.registrationId ? { registrationId: r.registrationId } : {}),
  createdAt: r.createdAt,
  createdBy: r.createdBy,
  updatedAt: r.updatedAt,
});

/** The party registry over the issuer's database and audit trail. */
export function createParties(issuer: Issuer) {
  async function register(input: unknown, ctx: ActionContext = {}): Promise<Result<Party>> {
    const p = PartyInput.safeParse(input);
    if (!p.success) {
      return err(
        'ERR_VALIDATION',
        `invalid party: ${p.error.issues.map((i) => `${i.path.join('.') || '(party)'}: ${i.message}`).join('; ')}`,
        p.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    const at = new Date().toISOString();
    const row: PartyRow = {
      did: p.data.did,
      kind: p.data.kind,
      name: p.data.name,
      email: p.data.email ?? null,
      country: p.data.country ?? null,
      lei: p.data.lei ?? null,
      registrationId: p.data.registrationId ?? null,
      createdAt: at,
      createdBy: ctx.actor ?? 'system',
      updatedAt: at,
    };
    try {
      await issuer.transaction(async (m, audit) => {
        await m.getRepository(PartyEntity).insert(row);
        await audit('party.register', { did: row.did, kind: row.kind, name: row.name }, ctx);
      });
    } catch (e) {
      if (isUniqueViolation(e)) return err('ERR_CONFLICT', `${row.did} is already registered`);
      throw e;
    }
    return ok(toParty(row));
  }

  async function get(did: string): Promise<Result<Party>> {
    const row = await issuer.transaction((m) =>
      m.getRepository(PartyEntity).findOneBy({ did: String(did).slice(0, 512) }),
    );
    return row ? ok(toParty(row)) : err('ERR_NOT_FOUND', 'no such party');
  }

  async function list(q: { kind?: string; limit?: number; afterDid?: string } = {}): Promise<Result<Party[]>> {
    if (q.kind !== undefined && q.kind !== 'person' && q.kind !== 'organisation') {
      return err('ERR_VALIDATION', "kind is 'person' or 'organisation'");
    }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 500);
    const rows = await issuer.transaction((m) => {
      const qb = m.getRepository(PartyEntity).createQueryBuilder('p').orderBy('p.did', 'ASC').take(limit);
      if (q.kind) qb.andWhere('p.kind = :kind', { kind: q.kind });
      if (q.afterDid) qb.andWhere('p.did > :after', { after: q.afterDid });
      return qb.getMany();
    });
    return ok(rows.map(toParty));
  }

  return { register, get, list };
}

export type Parties = ReturnType<typeof createParties>;
