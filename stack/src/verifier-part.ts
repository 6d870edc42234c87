import { readFileSync } from 'node:fs';
import { type Issuer, pushStatusChanges, statusListReader } from '@tessera/issuer';
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
import { Redis } from 'ioredis';

export interface VerifierPart {
  /** The credential core: presentations, tokens, the guard, `/verify`, topic grants. */
  core: Verifier;
  /** The Redis connection replicas share (TESSERA_REDIS_URL), for other single-use state such as device challenges. */
  redis?: Redis;
  stop(): Promise<void>;
}

/**
 * The credential core as the stack runs it: presentations checked against the event-invalidated DID cache, the trust
 * list (default: the stack's own issuer, for every credential type), the policies (default: the shipped file), nonces
 * and signed-out tokens in Redis when replicas share one, and status lists that the issuer's change events push in,
 * so a revocation is refused by the next presentation without any cache expiring.
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
  const core = createVerifier(
    {
      did: o.verifierDid,
      privateKey: o.verifierPrivateKey,
      publicUrl: o.publicUrl,
      policies: policies.value,
      trust: trust.value,
    },
    {
      resolver: o.resolver,
      // The issuer runs in this process: its signed list credential is read directly; the core still checks it.
      fetchStatusList: statusListReader(o.issuer),
      ...(redis
        ? {
            nonces: new RedisNonceStore(redis, { prefix: 'tessera:vp-nonce:' }),
            revokedTokens: new RedisTokenDenylist(redis),
          }
        : {}),
      log: o.log,
    },
  );
  // Every list in use is installed at start, then kept current by the issuer's events.
  const unfollow = await pushStatusChanges(o.issuer, core);
  return {
    core,
    ...(redis ? { redis } : {}),
    async stop() {
      unfollow();
      await core.stop();
      await redis?.quit().catch(() => undefined);
    },
  };
}
