import { readFileSync } from 'node:fs';
import { ISSUER_SIGN_IN_SCOPE, type Issuer, principalOf, pushStatusChanges, statusListReader } from '@tessera/issuer';
import { CREDENTIAL_TYPE_NAMES, type Logger, TesseraError } from '@tessera/protocol';
import {
  createVerifier,
  DEFAULT_POLICY_FILE,
  loadPolicyFile,
  parseTrustList,
  RedisNonceStore,
  RedisTokenDenylist,
  type Verifier,
} from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import { httpError } from '@tessera/runtime/http';
import { Redis } from 'ioredis';
import { type StatusFanout, startStatusFanout } from './status-fanout.js';

/** Most bytes of a status list fetched over HTTP, and how long its issuer may take to answer. */
const STATUS_LIST_MAX_BYTES = 1024 * 1024;
const STATUS_LIST_FETCH_TIMEOUT_MS = 5000;

/**
 * GET a status list (Bitstring Status List credential or Status List Token) from a foreign issuer: http(s) only, a
 * time limit, a size limit, no cookies. The core verifies what comes back.
 */
export async function fetchStatusListOverHttp(url: string): Promise<string> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`status list URL ${url} is not http(s)`);
  const res = await fetch(u, {
    headers: { accept: 'application/statuslist+jwt, application/vc+jwt, application/jwt' },
    redirect: 'error',
    signal: AbortSignal.timeout(STATUS_LIST_FETCH_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > STATUS_LIST_MAX_BYTES) throw new Error(`${url} is larger than ${STATUS_LIST_MAX_BYTES} bytes`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > STATUS_LIST_MAX_BYTES) throw new Error(`${url} is larger than ${STATUS_LIST_MAX_BYTES} bytes`);
  return body.toString('utf8').trim();
}

export interface VerifierPart {
  /** The credential core: presentations, tokens, the guard, `/verify`, topic grants. */
  core: Verifier;
  /** The Redis connection replicas share (TESSERA_REDIS_URL), for other single-use state such as device challenges. */
  redis?: Redis;
  /** Status changes to and from the other replicas sharing Redis. */
  fanout?: StatusFanout;
  stop(): Promise<void>;
}

/**
 * The credential core as the stack runs it: presentations checked against the event-invalidated DID cache, the trust
 * list (default: the stack's own issuer, for every credential type), the policies (default: the shipped file), nonces
 * and signed-out tokens in Redis when replicas share one, and status lists that the issuer's change events push in,
 * so a revocation is refused by the next presentation without any cache expiring; with Redis, the changes made at
 * the other replicas are pushed in too.
 */
export async function startVerifierPart(o: {
  resolver: Resolvable;
  issuer: Issuer;
  verifierDid: string;
  verifierPrivateKey: string;
  publicUrl: string;
  policyFile?: string;
  trustListFile?: string;
  redisUrl?: string;
  statusMaxAgeSeconds?: number;
  statusMaxStaleSeconds?: number;
  log: Logger;
}): Promise<VerifierPart> {
  const trustData = o.trustListFile
    ? JSON.parse(readFileSync(o.trustListFile, 'utf8'))
    : Object.fromEntries(CREDENTIAL_TYPE_NAMES.map((t) => [t, [o.issuer.did]]));
  const trust = parseTrustList(trustData);
  if (!trust.ok) throw new TesseraError('ERR_CONFIG_INVALID', `trust list: ${trust.error.message}`);
  const policies = loadPolicyFile(o.policyFile ?? DEFAULT_POLICY_FILE);
  if (!policies.ok)
    throw new TesseraError('ERR_POLICY_INVALID', policies.error.message, { details: policies.error.details });

  let redis: Redis | undefined;
  if (o.redisUrl) {
    redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
    } catch (cause) {
      throw new TesseraError('ERR_UNAVAILABLE', `Redis at TESSERA_REDIS_URL does not answer`, { cause });
    }
  }
  const ownLists = statusListReader(o.issuer);
  const core = createVerifier(
    {
      did: o.verifierDid,
      privateKey: o.verifierPrivateKey,
      publicUrl: o.publicUrl,
      policies: policies.value,
      trust: trust.value,
      ...(o.statusMaxAgeSeconds === undefined ? {} : { statusMaxAgeMs: o.statusMaxAgeSeconds * 1000 }),
      ...(o.statusMaxStaleSeconds === undefined ? {} : { statusMaxStaleMs: o.statusMaxStaleSeconds * 1000 }),
    },
    {
      resolver: o.resolver,
      // The issuer in this process is read directly (the core still checks its signature); any other trusted
      // issuer's list is fetched over HTTP.
      fetchStatusList: (url) =>
        url.startsWith(`${o.issuer.config.publicBaseUrl}/status-lists/`)
          ? ownLists(url).catch((e: unknown) => {
              // our own database does not answer: the status check names it (503 ERR_UNAVAILABLE), not the list
              const mapped = httpError(e).body.error;
              if (mapped.code === 'ERR_UNAVAILABLE' || mapped.code === 'ERR_STORAGE_UNAVAILABLE')
                throw new TesseraError(mapped.code, `the issuer's status list cannot be read: ${mapped.message}`, {
                  cause: e,
                });
              throw e;
            })
          : fetchStatusListOverHttp(url),
      ...(redis
        ? {
            nonces: new RedisNonceStore(redis, { prefix: 'tessera:vp-nonce:' }),
            revokedTokens: new RedisTokenDenylist(redis),
          }
        : {}),
      // A sign-in to the issuer through OpenID4VP (the console's QR code or link answered by a wallet on another
      // device) goes to the issuer's audit trail like one through its own token endpoint (`POST /auth/token`).
      onOid4vpGrant: async (issued) => {
        if (!issued.grant.scopes.some((s) => s.resource === ISSUER_SIGN_IN_SCOPE)) return;
        const p = principalOf(issued.grant);
        await o.issuer.recordAction(
          'auth.token',
          { holder: p.did, roles: p.roles, via: 'openid4vp' },
          { actor: p.did },
        );
      },
      log: o.log,
    },
  );
  // Every list in use is installed at start, then kept current by the issuer's events.
  const unfollow = await pushStatusChanges(o.issuer, core);
  // ... and by the other replicas' issuers' events, through Redis.
  const fanout = redis
    ? await startStatusFanout({
        redis,
        issuer: o.issuer,
        core,
        onResync: async () =>
          core.onStatusChange(
            (await o.issuer.statusLists()).flatMap((id) => [
              o.issuer.statusListUrl(id, 'revocation'),
              o.issuer.statusListUrl(id, 'suspension'),
              o.issuer.tokenStatusListUrl(id),
            ]),
          ),
        log: o.log,
      })
    : undefined;
  return {
    core,
    ...(redis ? { redis } : {}),
    ...(fanout ? { fanout } : {}),
    async stop() {
      unfollow();
      await fanout?.stop();
      await core.stop();
      await redis?.quit().catch(() => undefined);
    },
  };
}
