import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isUniqueViolation, type Outbox, TesseraAnchor__factory } from '@tessera/contracts';
import {
  type AuditEntry,
  Bitstring,
  type BitstringStatusListEntry,
  buildCredential,
  CREDENTIAL_TYPES,
  type CredentialFormat,
  type CredentialType,
  OID4VCI_TX_CODE_MAX_ATTEMPTS,
  err,
  ethrDid,
  isCredentialType,
  MAX_JWT_BYTES,
  OFFER_PROOF_TYP,
  ok,
  parseDid,
  type Result,
  STATUS_LIST_CREDENTIAL_TYPE,
  type StatusPurpose,
  statusListEntry,
  statusListSubject,
  TesseraError,
  validateClaims,
} from '@tessera/protocol';
import { verifyJWT } from 'did-jwt';
import type { Resolvable } from 'did-resolver';
import { computeAddress, type JsonRpcProvider, keccak256, SigningKey, toUtf8Bytes } from 'ethers';
import type { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { createIssuerAgent, ethrProviderName, type IssuerAgent } from './agent.js';
import {
  type AuditQuery,
  type AuditVerification,
  appendAudit,
  auditHead,
  readAudit,
  verifyAuditTrail,
} from './audit.js';
import { type IssuerConfig, type IssuerConfigInput, parseIssuerConfig } from './config.js';
import { loadSecretBoxKey } from './keys.js';
import { issueSdJwtVc, signStatusListToken } from './oid4vci/formats.js';
import { Oid4vciState } from './oid4vci/state.js';
import {
  AuditEntity,
  CredentialEntity,
  type CredentialRow,
  type CredentialStatus,
  StatusListEntity,
  type StatusListRow,
} from './store.js';

/** What the issuer is built from; the caller owns (opens and closes) all of it. */
export interface IssuerDeps {
  /** Opened with `issuerDatabaseParts` (and `outboxDatabaseParts` when anchoring). */
  dataSource: DataSource;
  provider: JsonRpcProvider;
  chainId: number;
  /** ERC-1056 EthereumDIDRegistry address (from `ensureDeployed`). */
  registryAddress: string;
  /** For anchoring the audit head on chain; both or neither. */
  outbox?: Outbox;
  anchorAddress?: string;
  /**
   * Adopt an existing secp256k1 key (0x hex) as the issuer's DID, in address form `did:ethr:0x<chain>:0x<address>`
   * (the stack's keystore key whose DID carries the issuer's service endpoint). Imported into the sealed key store on
   * first start; later starts only check that it is still the same key. Omitted: Veramo creates a key.
   */
  issuerPrivateKey?: string;
  /** Clock seam; defaults to the system clock. */
  now?: () => Date;
}

export interface IssueRequest {
  /** One of the credential types Tessera issues, e.g. `EnergyProsumerCredential`. */
  type: string;
  /** DID of the subject (holder). */
  subject: string;
  /** The `credentialSubject` claims without `id`, validated against the type's schema. */
  claims: unknown;
  /** Validity in seconds from now; default and maximum per type. */
  validitySeconds?: number;
}

/** Who performs an action, for the audit trail (an admin's DID, or a service name). */
export interface ActionContext {
  actor?: string;
  reason?: string;
}

export interface IssuedCredential {
  id: string;
  type: CredentialType;
  subject: string;
  issuer: string;
  status: CredentialStatus;
  claims: Record<string, unknown>;
  /** The credential, a JWT (VC Data Model 1.1, JWT encoding §6.3.1). */
  jwt: string;
  issuedAt: string;
  expiresAt: string;
  /** Past `expiresAt` now (the status stays what it was: expiry needs no status change). */
  expired: boolean;
  updatedAt: string;
  statusList: number;
  statusIndex: number;
  credentialStatus: BitstringStatusListEntry[];
}

export interface CredentialQuery {
  type?: string;
  subject?: string;
  status?: CredentialStatus;
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface CredentialPage {
  items: IssuedCredential[];
  nextCursor?: string;
}

export interface StatusChange {
  credential: IssuedCredential;
  /** False when the credential was already in the requested state (nothing written). */
  changed: boolean;
}

export interface CredentialOffer {
  /** The pre-authorized code (OpenID4VCI 1.0 §4.1.1). Shown once; only its hash is stored. */
  code: string;
  credentialId: string;
  expiresAt: string;
  /** The transaction code to send the holder by another channel (§4.1.1 `tx_code`), when one was asked for. */
  txCode?: string;
}

/** What a pre-authorized code grants, as kept in the OpenID4VCI state. */
export interface PreAuthorizedGrant {
  credentialId: string;
  subject: string;
  type: CredentialType;
  /** SHA-256 (hex) of the transaction code, when the offer has one. */
  txCodeHash?: string;
}

/** How a credential is to be delivered: its format and the holder key it is bound to. */
export interface Delivery {
  format: CredentialFormat;
  /** The DID URL of the holder key that proved possession (the proof's `kid`); its DID must be the subject. */
  holderKid: string;
}

/** How long a verifier may cache a Status List Token before fetching it again (its `ttl` claim), in seconds. */
export const STATUS_LIST_TOKEN_TTL_S = 60;

export interface StatusListCredential {
  url: string;
  listId: number;
  purpose: StatusPurpose;
  /** Bumped by every status change on this list. */
  version: number;
  jwt: string;
}

/** Published after a status change is committed, so verifiers can refetch the list at once. */
export interface StatusChangeEvent {
  credentialId: string;
  type: CredentialType;
  subject: string;
  previous: CredentialStatus;
  status: CredentialStatus;
  statusList: number;
  statusIndex: number;
  listVersion: number;
  /** URLs of the status list credentials whose bits changed. */
  statusListCredentials: string[];
  at: string;
  auditSeq: number;
}

export interface IssuedEvent {
  credential: IssuedCredential;
  auditSeq: number;
}

export class IssuerEvents extends EventEmitter<{ issued: [IssuedEvent]; status: [StatusChangeEvent] }> {}

export interface AnchorResult {
  seq: number;
  hash: string;
  txHash?: string;
  blockNumber?: number;
}

export interface Issuer {
  readonly did: string;
  readonly config: IssuerConfig;
  readonly events: IssuerEvents;
  issue(req: IssueRequest, ctx?: ActionContext): Promise<Result<IssuedCredential>>;
  get(id: string): Promise<Result<IssuedCredential>>;
  list(query?: CredentialQuery): Promise<Result<CredentialPage>>;
  suspend(id: string, ctx?: ActionContext): Promise<Result<StatusChange>>;
  resume(id: string, ctx?: ActionContext): Promise<Result<StatusChange>>;
  revoke(id: string, ctx?: ActionContext): Promise<Result<StatusChange>>;
  /**
   * A one-time offer of an issued, active credential to its subject (the pre-authorised code of OpenID for VC
   * Issuance, reduced to what we need): the holder redeems the code with a proof of control of the subject DID.
   */
  offer(id: string, ctx?: ActionContext & { ttlSeconds?: number; txCode?: boolean }): Promise<Result<CredentialOffer>>;
  /**
   * The legacy one-step redemption (`POST /offers/redeem`, kept as an alias of the pre-authorized code grant): `proof`
   * is a JWT (ES256K) signed by the credential's subject with `aud` = the issuer's public URL and `nonce` = the code.
   * It spends the same pre-authorized code as the token endpoint and delivers through `deliver`. Single use, also
   * across replicas; an offer with a transaction code cannot be redeemed here.
   */
  redeemOffer(code: string, proof: string): Promise<Result<IssuedCredential>>;
  /**
   * The one delivery path of an issued credential (OpenID4VCI's credential endpoint, the legacy redemption): active
   * and unexpired, bound to the holder key in `delivery`, whose DID must be the credential's subject. `jwt_vc_json`
   * is the credential as signed at issuance; `dc+sd-jwt` is an SD-JWT VC of the same claims, expiry and status slot
   * (its Token Status List entry), so one revocation covers both formats.
   */
  deliver(id: string, delivery: Delivery): Promise<Result<{ credential: string; format: CredentialFormat }>>;
  /** The signed Status List Token of list `listId` (Token Status List §5), cached until the list changes. */
  tokenStatusList(listId: number): Promise<Result<{ url: string; version: number; jwt: string }>>;
  tokenStatusListUrl(listId: number): string;
  /** OpenID4VCI state shared by every replica: codes, tokens, nonces, DPoP proof ids. */
  readonly oid4vci: Oid4vciState;
  /** Ids of the status lists that exist. */
  statusLists(): Promise<number[]>;
  /** The signed status list credential with the current bits (cached until the list changes). */
  statusListCredential(listId: number, purpose: StatusPurpose): Promise<Result<StatusListCredential>>;
  statusListUrl(listId: number, purpose: StatusPurpose): string;
  /**
   * Run `fn` in one of the issuer's write transactions (serialised in this process, re-run on transient conflicts),
   * with `audit` appending to the trail in the same transaction: for the issuer's other records (parties, devices).
   * `fn` may run more than once; it must only touch the database.
   */
  transaction<T>(
    fn: (
      m: EntityManager,
      audit: (what: string, details: Record<string, unknown>, ctx?: ActionContext) => Promise<AuditEntry>,
    ) => Promise<T>,
  ): Promise<T>;
  /** Record an admin action that is not an issuance or a status change (e.g. a login). */
  recordAction(what: string, details: Record<string, unknown>, ctx?: ActionContext): Promise<AuditEntry>;
  audit(query?: AuditQuery): Promise<AuditEntry[]>;
  /** Check the hash chain; with `checkAnchor`, also against the head anchored on chain. */
  verifyAudit(options?: { checkAnchor?: boolean }): Promise<Result<AuditVerification>>;
  /** Anchor the current audit head on chain through the outbox (TesseraAnchor.anchor). */
  anchorAudit(): Promise<Result<AnchorResult>>;
  /** The head last anchored on chain (seq 0 when none). */
  anchoredHead(): Promise<{ seq: number; hash: string }>;
  /** Veramo agent, for the HTTP layer's presentation checks. */
  readonly agent: IssuerAgent;
}

const QuerySchema = z.strictObject({
  type: z.string().max(64).optional(),
  subject: z.string().max(512).optional(),
  status: z.enum(['active', 'suspended', 'revoked']).optional(),
  limit: z.number().int().min(1).max(500).default(50),
  cursor: z.string().max(400).optional(),
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/**
 * Transient conflicts between writers on one database: SQLite refuses to upgrade a read transaction to a write while
 * another connection writes (SQLITE_BUSY, without waiting, to avoid deadlock); PostgreSQL reports serialization
 * failures and deadlocks. The whole transaction is run again.
 */
const isTransient = (e: unknown): boolean => {
  const d = (e as { driverError?: { code?: string } })?.driverError ?? (e as { code?: string });
  const code = String(d?.code ?? '');
  return code.startsWith('SQLITE_BUSY') || code === '40001' || code === '40P01';
};

/** A collision on the audit sequence number: another replica appended first; the transaction is run again. */
const isAuditSeqCollision = (e: unknown): boolean => {
  if (!isUniqueViolation(e)) return false;
  const d = (e as { driverError?: { constraint?: string; message?: string } }).driverError;
  return (d?.constraint ?? '').startsWith('issuer_audit') || /issuer_audit\./.test(d?.message ?? '');
};

/**
 * Build the issuer: a Veramo agent with the issuer's did:ethr, over the database and chain in `deps`.
 * Every write (credential + status slot + audit entry) is one transaction; expected failures are Result values.
 *
 * @example
 * const issuer = await buildIssuer({ dataDir }, { dataSource, provider, chainId, registryAddress });
 * const r = await issuer.issue({ type: 'AdminCredential', subject: did, claims: { name: 'Ada' } });
 */
export async function buildIssuer(configInput: IssuerConfigInput, deps: IssuerDeps): Promise<Issuer> {
  const config = parseIssuerConfig(configInput);
  const ds = deps.dataSource;
  const now = deps.now ?? (() => new Date());
  const secretBoxKey = await loadSecretBoxKey(config.dataDir, config.secretBoxKey);
  const agent = createIssuerAgent({
    dataSource: ds,
    secretBoxKey,
    provider: deps.provider,
    chainId: deps.chainId,
    registryAddress: deps.registryAddress,
  });
  const events = new IssuerEvents();
  const providerName = ethrProviderName(deps.chainId);

  // Serialise this process's writes; other replicas are kept apart by the unique keys (slot, audit seq).
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
  const write = async <T>(fn: (m: EntityManager) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await exclusive(() => ds.transaction(fn));
      } catch (e) {
        if (isTransient(e) && attempt < 50) {
          await new Promise((r) => setTimeout(r, 2 + Math.random() * 20 * Math.min(attempt, 5)));
          continue;
        }
        if (!isAuditSeqCollision(e) || attempt >= 10) throw e;
      }
    }
  };

  const adopted = deps.issuerPrivateKey === undefined ? undefined : new SigningKey(deps.issuerPrivateKey);
  const adoptedDid = adopted && ethrDid(deps.chainId, computeAddress(adopted.publicKey));
  let identifier: Awaited<ReturnType<IssuerAgent['didManagerGet']>>;
  const existing = await agent.didManagerFind({ alias: config.issuerAlias, provider: providerName });
  if (existing[0]) {
    identifier = existing[0];
    if (adoptedDid && identifier.did !== adoptedDid) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `the issuer store holds ${identifier.did}, not the configured issuer key's ${adoptedDid}`,
      );
    }
  } else {
    if (adopted && adoptedDid) {
      const publicKeyHex = adopted.publicKey.slice(2);
      identifier = await agent.didManagerImport({
        did: adoptedDid,
        provider: providerName,
        alias: config.issuerAlias,
        controllerKeyId: publicKeyHex,
        keys: [
          {
            kid: publicKeyHex,
            kms: 'local',
            type: 'Secp256k1',
            privateKeyHex: adopted.privateKey.slice(2),
            publicKeyHex,
          },
        ],
        services: [],
      });
    } else {
      identifier = await agent.didManagerCreate({ alias: config.issuerAlias, provider: providerName });
    }
  }
  // Veramo stores the identifier in its own transaction; the audit entry is written (or, after a crash in between,
  // completed on the next start) right after it.
  await write(async (m) => {
    const seen = await m
      .getRepository(AuditEntity)
      .createQueryBuilder('a')
      .where('a.action IN (:...actions)', { actions: ['issuer.create-did', 'issuer.import-did'] })
      .getCount();
    if (seen > 0) return;
    await appendAudit(m, {
      who: 'issuer',
      what: adopted ? 'issuer.import-did' : 'issuer.create-did',
      when: now().toISOString(),
      details: { did: identifier.did },
    });
  });
  // Fail at start, not at the first issuance, when the secret-box key is not the one the keys were sealed with.
  try {
    await agent.keyManagerSign({ keyRef: identifier.controllerKeyId!, data: 'tessera-issuer-self-check' });
  } catch (cause) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      "the issuer's private key cannot be decrypted: the secret-box key is not the one it was sealed with",
      { cause },
    );
  }
  const did = identifier.did;

  const statusListUrl = (listId: number, purpose: StatusPurpose) =>
    `${config.publicBaseUrl}/status-lists/${listId}/${purpose}`;
  const entriesFor = (listId: number, index: number): BitstringStatusListEntry[] => [
    statusListEntry(statusListUrl(listId, 'revocation'), index, 'revocation'),
    statusListEntry(statusListUrl(listId, 'suspension'), index, 'suspension'),
  ];
  const toIssued = (r: CredentialRow): IssuedCredential => ({
    id: r.id,
    type: r.type as CredentialType,
    subject: r.subject,
    issuer: r.issuer,
    status: r.status,
    claims: JSON.parse(r.claims) as Record<string, unknown>,
    jwt: r.jwt,
    issuedAt: r.issuedAt,
    expiresAt: r.expiresAt,
    expired: r.expiresAt <= now().toISOString(),
    updatedAt: r.updatedAt,
    statusList: r.statusList,
    statusIndex: r.statusIndex,
    credentialStatus: entriesFor(r.statusList, r.statusIndex),
  });

  const credentials = () => ds.getRepository(CredentialEntity);
  const resolver = { resolve: (didUrl: string) => agent.resolveDid({ didUrl }) } as unknown as Resolvable;
  const lists = () => ds.getRepository(StatusListEntity);

  /**
   * The list new credentials go to: the newest one below its fill limit, or a new one. The fill is counted again
   * every RECOUNT_EVERY issuances of this process (the limit is soft: replicas may overshoot it by a little).
   */
  const RECOUNT_EVERY = 256;
  let fill: { listId: number; used: number; sinceCount: number } | undefined;
  const currentList = async (): Promise<StatusListRow> => {
    const newest = (await lists().find({ order: { id: 'DESC' }, take: 1 }))[0];
    if (newest) {
      if (!fill || fill.listId !== newest.id || fill.sinceCount >= RECOUNT_EVERY) {
        fill = { listId: newest.id, used: await credentials().countBy({ statusList: newest.id }), sinceCount: 0 };
      }
      fill.used++;
      fill.sinceCount++;
      if (fill.used <= Math.floor(newest.size * config.statusListMaxFill)) return newest;
    }
    const at = now().toISOString();
    const row: StatusListRow = {
      id: (newest?.id ?? 0) + 1,
      size: config.statusListSize,
      version: 0,
      createdAt: at,
      updatedAt: at,
    };
    try {
      await exclusive(() => lists().insert(row));
    } catch (e) {
      if (!isUniqueViolation(e)) throw e; // another replica opened it first: use theirs
      return (await lists().findOneByOrFail({ id: row.id })) as StatusListRow;
    }
    return row;
  };

  /** A random free index (Bitstring Status List §6.1: random allocation hides issuance order). */
  const freeIndex = async (list: StatusListRow): Promise<number> => {
    for (let i = 0; i < 64; i++) {
      const index = randomInt(0, list.size);
      if (!(await credentials().existsBy({ statusList: list.id, statusIndex: index }))) return index;
    }
    throw new TesseraError('ERR_INTERNAL', `status list ${list.id} has no free index after 64 random tries`);
  };

  async function issue(req: IssueRequest, ctx: ActionContext = {}): Promise<Result<IssuedCredential>> {
    if (typeof req !== 'object' || req === null) return err('ERR_BAD_REQUEST', 'an issue request is an object');
    const claims = validateClaims(req.type, req.claims);
    if (!claims.ok) return claims;
    const type = req.type as CredentialType;
    const subject = parseDid(req.subject);
    if (!subject.ok) return subject;
    if (typeof req.subject !== 'string' || subject.value.did !== req.subject) {
      return err('ERR_DID_MALFORMED', 'the subject must be a DID without path, query or fragment');
    }
    const spec = CREDENTIAL_TYPES[type];
    const validity = req.validitySeconds ?? spec.defaultValiditySeconds;
    if (!Number.isSafeInteger(validity) || validity < 1 || validity > spec.maxValiditySeconds) {
      return err(
        'ERR_VALIDATION',
        `validitySeconds must be an integer from 1 to ${spec.maxValiditySeconds} for ${type}`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      const list = await currentList();
      const index = await freeIndex(list);
      const issued = new Date(Math.floor(now().getTime() / 1000) * 1000);
      const expires = new Date(issued.getTime() + validity * 1000);
      const id = `urn:uuid:${randomUUID()}`;
      const vc = await agent.createVerifiableCredential({
        credential: buildCredential({
          id,
          type,
          issuer: did,
          subject: req.subject,
          claims: claims.value,
          issuedAt: issued.getTime() / 1000,
          expiresAt: expires.getTime() / 1000,
          // VC Data Model 1.1 §4.9 status, as two BitstringStatusListEntry (one list per purpose) at the same index.
          status: entriesFor(list.id, index),
        }) as never,
        proofFormat: 'jwt',
      });
      const jwt = (vc.proof as { jwt?: string }).jwt;
      if (typeof jwt !== 'string') throw new TesseraError('ERR_INTERNAL', 'the agent returned no JWT');
      const row: CredentialRow = {
        id,
        type,
        subject: req.subject,
        issuer: did,
        status: 'active',
        statusList: list.id,
        statusIndex: index,
        claims: JSON.stringify(claims.value),
        jwt,
        issuedAt: issued.toISOString(),
        expiresAt: expires.toISOString(),
        updatedAt: issued.toISOString(),
      };
      try {
        const entry = await write(async (m) => {
          await m.getRepository(CredentialEntity).insert(row);
          return appendAudit(m, {
            who: ctx.actor ?? 'system',
            what: 'credential.issue',
            when: now().toISOString(),
            details: {
              id,
              type,
              subject: req.subject,
              statusList: list.id,
              statusIndex: index,
              expiresAt: row.expiresAt,
            },
          });
        });
        const credential = toIssued(row);
        events.emit('issued', { credential, auditSeq: entry.seq });
        return ok(credential);
      } catch (e) {
        // The random slot was taken by a concurrent issuance on another replica: sign again on a new one.
        if (!isUniqueViolation(e) || attempt >= 5) throw e;
      }
    }
  }

  async function get(id: string): Promise<Result<IssuedCredential>> {
    if (typeof id !== 'string' || id.length > 100) return err('ERR_NOT_FOUND', 'no such credential');
    const row = await credentials().findOneBy({ id });
    return row ? ok(toIssued(row)) : err('ERR_NOT_FOUND', `no credential '${id.slice(0, 100)}'`);
  }

  async function list(query: CredentialQuery = {}): Promise<Result<CredentialPage>> {
    const q = QuerySchema.safeParse(query);
    if (!q.success) {
      return err(
        'ERR_VALIDATION',
        `invalid credential query: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const { type, subject, status, limit, cursor } = q.data;
    if (type !== undefined && !isCredentialType(type)) {
      return err('ERR_VC_TYPE_UNKNOWN', `'${type}' is not a credential type Tessera issues`);
    }
    const qb = credentials()
      .createQueryBuilder('c')
      .orderBy('c.issuedAt', 'DESC')
      .addOrderBy('c.id', 'DESC')
      .take(limit + 1);
    if (type !== undefined) qb.andWhere('c.type = :type', { type });
    if (subject !== undefined) qb.andWhere('c.subject = :subject', { subject });
    if (status !== undefined) qb.andWhere('c.status = :status', { status });
    if (cursor !== undefined) {
      let at: unknown;
      let id: unknown;
      try {
        [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
      } catch {
        return err('ERR_VALIDATION', 'invalid cursor');
      }
      if (typeof at !== 'string' || typeof id !== 'string') return err('ERR_VALIDATION', 'invalid cursor');
      qb.andWhere('(c.issuedAt < :at OR (c.issuedAt = :at AND c.id < :id))', { at, id });
    }
    const rows = await qb.getMany();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return ok({
      items: page.map(toIssued),
      ...(rows.length > limit && last
        ? { nextCursor: Buffer.from(JSON.stringify([last.issuedAt, last.id])).toString('base64url') }
        : {}),
    });
  }

  const oid4vci = new Oid4vciState(ds, now);
  const kid = `${did}#controller`;
  const sign = async (data: string): Promise<string> =>
    agent.keyManagerSign({ keyRef: identifier.controllerKeyId!, data, algorithm: 'ES256K' });

  async function offer(
    id: string,
    ctx: ActionContext & { ttlSeconds?: number; txCode?: boolean } = {},
  ): Promise<Result<CredentialOffer>> {
    const ttl = ctx.ttlSeconds ?? 24 * 3600;
    if (!Number.isSafeInteger(ttl) || ttl < 60 || ttl > 30 * 24 * 3600) {
      return err('ERR_VALIDATION', 'an offer lives from 60 seconds to 30 days');
    }
    const found = await get(id);
    if (!found.ok) return found;
    if (found.value.status !== 'active') {
      return err('ERR_CONFLICT', `a ${found.value.status} credential cannot be offered`);
    }
    const code = randomBytes(32).toString('base64url');
    // OpenID4VCI 1.0 §4.1.1: a short numeric code the holder types in; 6 digits against 5 guesses.
    const txCode = ctx.txCode ? String(randomInt(0, 1_000_000)).padStart(6, '0') : undefined;
    const at = now();
    const expiresAt = new Date(at.getTime() + ttl * 1000).toISOString();
    const grant: PreAuthorizedGrant = {
      credentialId: id,
      subject: found.value.subject,
      type: found.value.type,
      ...(txCode ? { txCodeHash: sha256(txCode) } : {}),
    };
    if (!(await oid4vci.put('pre-auth', code, grant, ttl * 1000))) throw new Error('pre-authorized code collision');
    await write((m) =>
      appendAudit(m, {
        who: ctx.actor ?? 'system',
        what: 'credential.offer',
        when: at.toISOString(),
        details: { id, subject: found.value.subject, expiresAt, txCode: txCode !== undefined },
      }),
    );
    return ok({ code, credentialId: id, expiresAt, ...(txCode ? { txCode } : {}) });
  }

  async function deliver(
    id: string,
    delivery: Delivery,
  ): Promise<Result<{ credential: string; format: CredentialFormat }>> {
    const found = await get(id);
    if (!found.ok) return found;
    const vc = found.value;
    if (vc.status !== 'active') return err('ERR_CONFLICT', `a ${vc.status} credential is not delivered`);
    if (vc.expired) return err('ERR_VC_EXPIRED', 'the credential has expired');
    const holder = typeof delivery.holderKid === 'string' ? delivery.holderKid.split('#')[0] : undefined;
    if (holder !== vc.subject) {
      return err('ERR_VC_SUBJECT_MISMATCH', 'only a key of the credential subject can receive the credential');
    }
    if (delivery.format === 'jwt_vc_json') return ok({ credential: vc.jwt, format: 'jwt_vc_json' });
    if (delivery.format !== 'dc+sd-jwt') return err('ERR_VALIDATION', 'unknown credential format');
    const credential = await issueSdJwtVc(
      {
        draft: {
          id: vc.id,
          type: vc.type,
          issuer: did,
          subject: vc.subject,
          claims: vc.claims,
          issuedAt: Math.floor(now().getTime() / 1000),
          expiresAt: Math.floor(Date.parse(vc.expiresAt) / 1000),
        },
        type: vc.type,
        kid,
        cnf: { kid: delivery.holderKid },
        status: { idx: vc.statusIndex, uri: tokenStatusListUrl(vc.statusList) },
      },
      sign,
    );
    return ok({ credential, format: 'dc+sd-jwt' });
  }

  async function redeemOffer(code: string, proof: string): Promise<Result<IssuedCredential>> {
    if (typeof code !== 'string' || !/^[A-Za-z0-9_-]{20,100}$/.test(code)) return err('ERR_NOT_FOUND', 'no such offer');
    const live = await oid4vci.get<PreAuthorizedGrant>('pre-auth', code);
    if (!live) {
      const why = await oid4vci.status('pre-auth', code);
      if (why === 'used') return err('ERR_AUTH_REPLAYED', 'the offer was already redeemed');
      if (why === 'expired') return err('ERR_AUTH_EXPIRED', 'the offer has expired');
      return err('ERR_NOT_FOUND', 'no such offer');
    }
    if (live.data.txCodeHash !== undefined) {
      return err('ERR_OID4VCI_TX_CODE', 'this offer has a transaction code: redeem it at the token endpoint');
    }
    const credential = await get(live.data.credentialId);
    if (!credential.ok) return credential;
    if (typeof proof !== 'string' || proof.length > MAX_JWT_BYTES)
      return err('ERR_JWT_MALFORMED', 'proof must be a JWT');
    let header: { alg?: unknown; typ?: unknown };
    let claims: { aud?: unknown; nonce?: unknown };
    try {
      const [h, p] = proof.split('.');
      header = JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as typeof header;
      claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as typeof claims;
      if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null)
        throw new Error('not objects');
    } catch {
      return err('ERR_JWT_MALFORMED', 'proof is not a JWT');
    }
    if (header.alg !== 'ES256K')
      return err('ERR_JWT_ALG_UNSUPPORTED', `proof algorithm '${String(header.alg)}' is not allowed`);
    // OpenID4VCI 1.0 §F.1: the proof says what it is, whom it is for and which offer it answers. All three are
    // required: a presentation or any other JWT of the subject that happens to carry the code must not do.
    if (header.typ !== OFFER_PROOF_TYP)
      return err('ERR_PROOF_TYPE', `the proof must be a JWT of typ ${OFFER_PROOF_TYP}, not '${String(header.typ)}'`);
    if (claims.aud !== config.publicBaseUrl)
      return err('ERR_VP_AUDIENCE', `the proof's aud must be this issuer, ${config.publicBaseUrl}`);
    if (claims.nonce !== code) return err('ERR_VP_NONCE', 'the proof is not bound to this offer (nonce = the code)');
    let verified: Awaited<ReturnType<typeof verifyJWT>>;
    try {
      verified = await verifyJWT(proof, { resolver, audience: config.publicBaseUrl });
    } catch (e) {
      const msg = String((e as Error).message);
      if (/audience/i.test(msg)) return err('ERR_VP_AUDIENCE', 'the proof is not addressed to this issuer');
      if (/expired/i.test(msg)) return err('ERR_VP_EXPIRED', 'the proof has expired');
      return err('ERR_JWT_SIGNATURE', 'the proof does not verify');
    }
    if (verified.payload.nonce !== code) return err('ERR_VP_NONCE', 'the proof is not bound to this offer');
    if (verified.issuer !== credential.value.subject) {
      return err('ERR_VC_SUBJECT_MISMATCH', 'only the credential subject can redeem the offer');
    }
    const spent = await oid4vci.consume<PreAuthorizedGrant>('pre-auth', code, OID4VCI_TX_CODE_MAX_ATTEMPTS);
    if (!spent) return err('ERR_AUTH_REPLAYED', 'the offer was already redeemed');
    const delivered = await deliver(credential.value.id, {
      format: 'jwt_vc_json',
      holderKid: `${verified.issuer}#controller`,
    });
    if (!delivered.ok) return delivered;
    await write((m) =>
      appendAudit(m, {
        who: credential.value.subject,
        what: 'credential.redeem',
        when: now().toISOString(),
        details: { id: credential.value.id, format: 'jwt_vc_json' },
      }),
    );
    return credential;
  }

  const transitions = {
    suspend: { from: ['active'], to: 'suspended' },
    resume: { from: ['suspended'], to: 'active' },
    revoke: { from: ['active', 'suspended'], to: 'revoked' },
  } as const satisfies Record<string, { from: CredentialStatus[]; to: CredentialStatus }>;

  async function changeStatus(
    action: keyof typeof transitions,
    id: string,
    ctx: ActionContext = {},
  ): Promise<Result<StatusChange>> {
    const t = transitions[action];
    const outcome = await write(async (m): Promise<Result<{ row: CredentialRow; event?: StatusChangeEvent }>> => {
      const repo = m.getRepository(CredentialEntity);
      const row = typeof id === 'string' && id.length <= 100 ? await repo.findOneBy({ id }) : null;
      if (!row) return err('ERR_NOT_FOUND', `no credential '${String(id).slice(0, 100)}'`);
      if (row.status === t.to) return ok({ row });
      if (!(t.from as readonly CredentialStatus[]).includes(row.status)) {
        return err('ERR_CONFLICT', `cannot ${action} a ${row.status} credential (revocation is final)`, {
          status: row.status,
        });
      }
      const at = now().toISOString();
      const previous = row.status;
      // Conditional on the state we read, so a concurrent change on another replica is not overwritten.
      const res = await repo.update({ id, status: previous }, { status: t.to, updatedAt: at });
      if (res.affected !== 1) return err('ERR_CONFLICT', 'the credential changed concurrently; retry');
      await m
        .getRepository(StatusListEntity)
        .createQueryBuilder()
        .update()
        .set({ version: () => 'version + 1', updatedAt: at })
        .where('id = :id', { id: row.statusList })
        .execute();
      const listRow = await m.getRepository(StatusListEntity).findOneByOrFail({ id: row.statusList });
      const entry = await appendAudit(m, {
        who: ctx.actor ?? 'system',
        what: `credential.${action}`,
        when: at,
        details: {
          id,
          type: row.type,
          subject: row.subject,
          from: previous,
          to: t.to,
          ...(ctx.reason ? { reason: ctx.reason } : {}),
        },
      });
      const purposes: StatusPurpose[] = [];
      if (previous === 'revoked' || t.to === 'revoked') purposes.push('revocation');
      if (previous === 'suspended' || t.to === 'suspended') purposes.push('suspension');
      const updated = { ...row, status: t.to, updatedAt: at };
      return ok({
        row: updated,
        event: {
          credentialId: id,
          type: row.type as CredentialType,
          subject: row.subject,
          previous,
          status: t.to,
          statusList: row.statusList,
          statusIndex: row.statusIndex,
          listVersion: listRow.version,
          statusListCredentials: [
            ...purposes.map((p) => statusListUrl(row.statusList, p)),
            tokenStatusListUrl(row.statusList),
          ],
          at,
          auditSeq: entry.seq,
        },
      });
    });
    if (!outcome.ok) return outcome;
    if (outcome.value.event) events.emit('status', outcome.value.event);
    return ok({ credential: toIssued(outcome.value.row), changed: outcome.value.event !== undefined });
  }

  // Signed status list credentials, per list and purpose, valid while the list's version is unchanged.
  const signed = new Map<string, StatusListCredential>();
  async function statusListCredential(listId: number, purpose: StatusPurpose): Promise<Result<StatusListCredential>> {
    if (!Number.isSafeInteger(listId) || (purpose !== 'revocation' && purpose !== 'suspension')) {
      return err('ERR_NOT_FOUND', 'no such status list');
    }
    // Version first, bits second: the bits are then at least as new as the version they are cached under.
    const listRow = await lists().findOneBy({ id: listId });
    if (!listRow) return err('ERR_NOT_FOUND', `no status list ${listId}`);
    const key = `${listId}/${purpose}`;
    const cached = signed.get(key);
    if (cached && cached.version === listRow.version) return ok(cached);
    const bits = Bitstring.create(listRow.size);
    const rows = (await credentials()
      .createQueryBuilder('c')
      .select('c.statusIndex', 'i')
      .where('c.statusList = :id AND c.status = :s', {
        id: listId,
        s: purpose === 'revocation' ? 'revoked' : 'suspended',
      })
      .getRawMany()) as { i: number | string }[];
    for (const r of rows) bits.set(Number(r.i), true);
    const url = statusListUrl(listId, purpose);
    const { id: _id, ...listSubject } = statusListSubject(url, purpose, bits);
    const vc = await agent.createVerifiableCredential({
      credential: buildCredential({
        id: url,
        type: STATUS_LIST_CREDENTIAL_TYPE,
        issuer: did,
        subject: `${url}#list`,
        claims: listSubject,
        issuedAt: Math.floor(now().getTime() / 1000),
      }) as never,
      proofFormat: 'jwt',
    });
    const out: StatusListCredential = {
      url,
      listId,
      purpose,
      version: listRow.version,
      jwt: (vc.proof as { jwt: string }).jwt,
    };
    const newer = signed.get(key);
    if (!newer || newer.version <= out.version) signed.set(key, out);
    return ok(out);
  }

  const tokenStatusListUrl = (listId: number) => `${config.publicBaseUrl}/status-lists/${listId}/token`;
  const signedTokens = new Map<number, { url: string; version: number; jwt: string }>();
  async function tokenStatusList(listId: number): Promise<Result<{ url: string; version: number; jwt: string }>> {
    if (!Number.isSafeInteger(listId)) return err('ERR_NOT_FOUND', 'no such status list');
    const listRow = await lists().findOneBy({ id: listId });
    if (!listRow) return err('ERR_NOT_FOUND', `no status list ${listId}`);
    const cached = signedTokens.get(listId);
    if (cached && cached.version === listRow.version) return ok(cached);
    const rows = (await credentials()
      .createQueryBuilder('c')
      .select('c.statusIndex', 'i')
      .addSelect('c.status', 's')
      .where('c.statusList = :id AND c.status IN (:...s)', { id: listId, s: ['revoked', 'suspended'] })
      .getRawMany()) as { i: number | string; s: string }[];
    const url = tokenStatusListUrl(listId);
    const jwt = await signStatusListToken(
      {
        issuer: did,
        kid,
        uri: url,
        size: listRow.size,
        revoked: rows.filter((r) => r.s === 'revoked').map((r) => Number(r.i)),
        suspended: rows.filter((r) => r.s === 'suspended').map((r) => Number(r.i)),
        issuedAt: Math.floor(now().getTime() / 1000),
        ttlSeconds: STATUS_LIST_TOKEN_TTL_S,
      },
      sign,
    );
    const out = { url, version: listRow.version, jwt };
    const newer = signedTokens.get(listId);
    if (!newer || newer.version <= out.version) signedTokens.set(listId, out);
    return ok(out);
  }

  const trailId = keccak256(toUtf8Bytes(config.auditTrailId));
  const anchorContract = () => {
    if (!deps.anchorAddress) return undefined;
    return TesseraAnchor__factory.connect(deps.anchorAddress, deps.provider as never);
  };
  async function anchoredHead(): Promise<{ seq: number; hash: string }> {
    const c = anchorContract();
    if (!c) return { seq: 0, hash: '0'.repeat(64) };
    const [hash, seq] = await c.headOf(trailId);
    return { seq: Number(seq), hash: hash.slice(2) };
  }

  return {
    did,
    config,
    events,
    agent,
    issue,
    get,
    list,
    suspend: (id, ctx) => changeStatus('suspend', id, ctx),
    resume: (id, ctx) => changeStatus('resume', id, ctx),
    revoke: (id, ctx) => changeStatus('revoke', id, ctx),
    offer,
    redeemOffer,
    deliver,
    tokenStatusList,
    tokenStatusListUrl,
    oid4vci,
    transaction: (fn) =>
      write((m) =>
        fn(m, (what, details, ctx = {}) =>
          appendAudit(m, { who: ctx.actor ?? 'system', what, when: now().toISOString(), details }),
        ),
      ),
    statusLists: async () => (await lists().find({ order: { id: 'ASC' } })).map((l) => l.id),
    statusListCredential,
    statusListUrl,
    recordAction: (what, details, ctx = {}) =>
      write((m) => appendAudit(m, { who: ctx.actor ?? 'system', what, when: now().toISOString(), details })),
    audit: (query) => readAudit(ds, query),
    async verifyAudit(options = {}) {
      if (!options.checkAnchor) return verifyAuditTrail(ds);
      return verifyAuditTrail(ds, { anchored: await anchoredHead() });
    },
    async anchorAudit() {
      const c = anchorContract();
      if (!c || !deps.outbox) {
        return err('ERR_UNAVAILABLE', 'audit anchoring needs an outbox and the TesseraAnchor address');
      }
      const head = await auditHead(ds);
      if (head.seq === 0) return ok(head);
      const anchored = await anchoredHead();
      if (anchored.seq >= head.seq) return ok(head);
      const data = c.interface.encodeFunctionData('anchor', [trailId, head.seq, `0x${head.hash}`]);
      const row = await deps.outbox.submit(`issuer-audit-anchor:${head.seq}`, {
        kind: 'audit-anchor',
        to: deps.anchorAddress!,
        data,
      });
      if (row.status !== 'mined') {
        return err('ERR_CHAIN_TX_FAILED', `anchoring audit head ${head.seq} failed: ${row.error ?? row.status}`);
      }
      return ok({ ...head, txHash: row.txHash!, blockNumber: row.blockNumber! });
    },
    anchoredHead,
  };
}
