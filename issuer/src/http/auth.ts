import { createHash, randomBytes } from 'node:crypto';
import { type CredentialType, err, MAX_JWT_BYTES, ok, type Result } from '@tessera/protocol';
import { verifyCredential, verifyPresentation } from 'did-jwt-vc';
import type { Resolvable } from 'did-resolver';
import type { DataSource } from 'typeorm';
import type { Issuer } from '../issuer.js';
import { AccessTokenEntity, AuthNonceEntity } from '../store.js';

/**
 * Role credentials that open the issuer's API; each route names the ones it accepts (deny by default). Manufacturers
 * register devices, device owners commission and decommission theirs.
 */
export const ADMIN_ROLES = [
  'AdminCredential',
  'OperatorCredential',
  'ManufacturerCredential',
  'DeviceOwnerCredential',
] as const satisfies readonly CredentialType[];
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface Principal {
  did: string;
  roles: AdminRole[];
  credentialIds: string[];
  expiresAt: string;
}

export interface AuthOptions {
  dataSource: DataSource;
  issuer: Issuer;
  /** The audience an admin presentation must name (`aud`): the issuer's public URL. */
  audience: string;
  nonceTtlSeconds: number;
  tokenTtlSeconds: number;
  now: () => Date;
}

/** A VP carrying several role credentials is still small; anything bigger is refused before parsing. */
const MAX_PRESENTATION_BYTES = 4 * MAX_JWT_BYTES;
const TOKEN_PREFIX = 'tsa_';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function decodeJwt(jwt: string): Result<{ header: Record<string, unknown>; payload: Record<string, unknown> }> {
  const parts = jwt.split('.');
  if (parts.length !== 3) return err('ERR_JWT_MALFORMED', 'a JWT has three base64url parts');
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) {
      return err('ERR_JWT_MALFORMED', 'JWT header and payload must be JSON objects');
    }
    return ok({ header: header as Record<string, unknown>, payload: payload as Record<string, unknown> });
  } catch {
    return err('ERR_JWT_MALFORMED', 'JWT header or payload is not base64url JSON');
  }
}

/** did-jwt reports failures as `<code>: <message>`; map them onto our registry. */
function mapJwtError(e: unknown, what: 'presentation' | 'credential'): Result<never> {
  const msg = String((e as Error)?.message ?? e);
  if (/invalid_signature|no matching public key|signature/i.test(msg))
    return err('ERR_JWT_SIGNATURE', `${what} signature does not verify`);
  if (/expired/i.test(msg)) return err(what === 'credential' ? 'ERR_VC_EXPIRED' : 'ERR_VP_EXPIRED', `${what} expired`);
  if (/before|nbf|not yet/i.test(msg)) return err('ERR_VC_NOT_YET_VALID', `${what} is not yet valid`);
  if (/audience|domain/i.test(msg)) return err('ERR_VP_AUDIENCE', 'presentation audience is not this issuer');
  if (/challenge|nonce/i.test(msg)) return err('ERR_VP_NONCE', 'presentation nonce does not match');
  if (/resolv|notFound|unsupportedDidMethod/i.test(msg))
    return err('ERR_DID_NOT_FOUND', `${what} signer does not resolve`);
  return err(
    what === 'credential' ? 'ERR_VC_MALFORMED' : 'ERR_VP_MALFORMED',
    `${what} is not valid: ${msg.slice(0, 200)}`,
  );
}

/**
 * Admin and operator authentication: a presentation of role credentials over a server nonce, exchanged for a
 * short-lived opaque access token. Nonces and tokens live in the database, so every replica honours and spends them.
 */
export function createAdminAuth(o: AuthOptions) {
  const nonces = () => o.dataSource.getRepository(AuthNonceEntity);
  const tokens = () => o.dataSource.getRepository(AccessTokenEntity);
  const resolver: Resolvable = {
    resolve: (didUrl: string) => o.issuer.agent.resolveDid({ didUrl }),
  } as Resolvable;

  async function challenge(): Promise<{ nonce: string; audience: string; expiresAt: string }> {
    const now = o.now();
    // Expired nonces and tokens are only clutter; drop them while we are here.
    await nonces()
      .createQueryBuilder()
      .delete()
      .where('expires_at < :t', { t: new Date(now.getTime() - 3600_000).toISOString() })
      .execute();
    await tokens()
      .createQueryBuilder()
      .delete()
      .where('expires_at < :t', { t: new Date(now.getTime() - 86_400_000).toISOString() })
      .execute();
    const nonce = randomBytes(24).toString('base64url');
    const expiresAt = new Date(now.getTime() + o.nonceTtlSeconds * 1000).toISOString();
    await nonces().insert({ nonce, expiresAt, usedAt: null });
    return { nonce, audience: o.audience, expiresAt };
  }

  async function exchange(
    presentation: unknown,
  ): Promise<Result<{ accessToken: string; expiresAt: string; did: string; roles: AdminRole[] }>> {
    if (typeof presentation !== 'string' || presentation.length === 0) {
      return err('ERR_VP_MALFORMED', 'presentation must be a compact JWT string');
    }
    if (presentation.length > MAX_PRESENTATION_BYTES) return err('ERR_JWT_TOO_LARGE', 'presentation is too large');
    const decoded = decodeJwt(presentation);
    if (!decoded.ok) return decoded;
    // Only the curve did:ethr keys use; never 'none', never HMAC (algorithm confusion).
    if (decoded.value.header.alg !== 'ES256K') {
      return err('ERR_JWT_ALG_UNSUPPORTED', `JWT algorithm '${String(decoded.value.header.alg)}' is not allowed`);
    }
    const nonce = decoded.value.payload.nonce;
    if (typeof nonce !== 'string' || nonce.length > 64) return err('ERR_VP_NONCE', 'presentation carries no nonce');
    const stored = await nonces().findOneBy({ nonce });
    const now = o.now();
    if (!stored || stored.expiresAt <= now.toISOString()) {
      return err('ERR_VP_NONCE', 'the nonce is unknown or expired; ask for a new challenge');
    }
    if (stored.usedAt !== null) return err('ERR_AUTH_REPLAYED', 'the nonce was already used');

    let vp: Awaited<ReturnType<typeof verifyPresentation>>;
    try {
      vp = await verifyPresentation(presentation, resolver, {
        audience: o.audience,
        domain: o.audience,
        challenge: nonce,
      });
    } catch (e) {
      return mapJwtError(e, 'presentation');
    }
    // Spend the nonce only now that the presentation is authentic and addressed to us (one winner across replicas).
    const spent = await nonces()
      .createQueryBuilder()
      .update()
      .set({ usedAt: now.toISOString() })
      .where('nonce = :nonce AND used_at IS NULL', { nonce })
      .execute();
    if (spent.affected !== 1) return err('ERR_AUTH_REPLAYED', 'the nonce was already used');

    const holder = vp.issuer;
    const vcs = vp.verifiablePresentation.verifiableCredential ?? [];
    const list = Array.isArray(vcs) ? vcs : [vcs];
    if (list.length === 0) return err('ERR_VP_NO_CREDENTIAL', 'the presentation carries no credential');
    const roles = new Set<AdminRole>();
    const credentialIds: string[] = [];
    for (const item of list) {
      const jwt = typeof item === 'string' ? item : (item as { proof?: { jwt?: unknown } })?.proof?.jwt;
      if (typeof jwt !== 'string') return err('ERR_VC_MALFORMED', 'credentials must be JWTs');
      const header = decodeJwt(jwt);
      if (!header.ok) return header;
      if (header.value.header.alg !== 'ES256K') {
        return err(
          'ERR_JWT_ALG_UNSUPPORTED',
          `credential algorithm '${String(header.value.header.alg)}' is not allowed`,
        );
      }
      let vc: Awaited<ReturnType<typeof verifyCredential>>;
      try {
        vc = await verifyCredential(jwt, resolver);
      } catch (e) {
        return mapJwtError(e, 'credential');
      }
      if (vc.issuer !== o.issuer.did)
        return err('ERR_VC_UNTRUSTED_ISSUER', 'only this issuer’s role credentials count');
      // The presenter must be the subject (holder binding).
      if (vc.payload.sub !== holder)
        return err('ERR_VC_SUBJECT_MISMATCH', 'the presenter is not the credential subject');
      const id = vc.payload.jti;
      const record = typeof id === 'string' ? await o.issuer.get(id) : undefined;
      if (!record?.ok) return err('ERR_VC_UNTRUSTED_ISSUER', 'the credential is not in this issuer’s ledger');
      if (record.value.status === 'revoked') return err('ERR_VC_REVOKED', 'the credential has been revoked');
      if (record.value.status === 'suspended') return err('ERR_VC_SUSPENDED', 'the credential is suspended');
      if ((ADMIN_ROLES as readonly string[]).includes(record.value.type)) {
        roles.add(record.value.type as AdminRole);
        credentialIds.push(record.value.id);
      }
    }
    if (roles.size === 0) {
      return err('ERR_FORBIDDEN', 'an Admin, Operator, Manufacturer or DeviceOwner credential is required');
    }

    const accessToken = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + o.tokenTtlSeconds * 1000).toISOString();
    await tokens().insert({
      tokenHash: sha256(accessToken),
      holder,
      roles: [...roles].join(','),
      credentialIds: credentialIds.join(','),
      expiresAt,
      createdAt: now.toISOString(),
      revokedAt: null,
    });
    await o.issuer.recordAction('auth.token', { holder, roles: [...roles], credentialIds }, { actor: holder });
    return ok({ accessToken, expiresAt, did: holder, roles: [...roles] });
  }

  /** Check `Authorization: Bearer <token>`, and that the role credentials behind it are still active. */
  async function authenticate(header: string | undefined): Promise<Result<Principal>> {
    if (!header) return err('ERR_AUTH_REQUIRED', 'an access token is required (Authorization: Bearer …)');
    const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(header);
    if (!m?.[1]?.startsWith(TOKEN_PREFIX)) return err('ERR_AUTH_INVALID', 'malformed access token');
    const row = await tokens().findOneBy({ tokenHash: sha256(m[1]) });
    if (!row) return err('ERR_AUTH_INVALID', 'unknown access token');
    if (row.revokedAt !== null) return err('ERR_AUTH_REPLAYED', 'the access token was logged out');
    if (row.expiresAt <= o.now().toISOString()) return err('ERR_AUTH_EXPIRED', 'the access token has expired');
    const credentialIds = row.credentialIds.split(',').filter(Boolean);
    const roles: AdminRole[] = [];
    for (const id of credentialIds) {
      const c = await o.issuer.get(id);
      if (!c.ok) continue;
      if (c.value.status === 'revoked')
        return err('ERR_VC_REVOKED', 'the role credential behind this token was revoked');
      if (c.value.status === 'suspended')
        return err('ERR_VC_SUSPENDED', 'the role credential behind this token is suspended');
      if (c.value.expiresAt > o.now().toISOString()) roles.push(c.value.type as AdminRole);
    }
    if (roles.length === 0) return err('ERR_AUTH_EXPIRED', 'the role credentials behind this token have expired');
    return ok({ did: row.holder, roles, credentialIds, expiresAt: row.expiresAt });
  }

  async function logout(header: string | undefined): Promise<Result<true>> {
    const p = await authenticate(header);
    if (!p.ok) return p;
    const token = header!.slice('Bearer '.length);
    await tokens().update({ tokenHash: sha256(token) }, { revokedAt: o.now().toISOString() });
    return ok(true);
  }

  return { challenge, exchange, authenticate, logout };
}

export type AdminAuth = ReturnType<typeof createAdminAuth>;
