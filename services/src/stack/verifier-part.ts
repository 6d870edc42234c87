import { readFileSync } from 'node:fs';
import type { Issuer } from '@tessera/issuer';
import { CREDENTIAL_TYPE_NAMES, type Logger, Secp256k1Worker, TesseraError } from '@tessera/protocol';
import {
  AccessTokens,
  type CachedDidResolver,
  InMemoryStatusListProvider,
  MemoryNonceStore,
  type NonceStore,
  PolicyEngine,
  PresentationVerifier,
  RedisNonceStore,
  StatusListSync,
  type VerifierRouter,
  buildVerifierRouter,
  loadPolicyFile,
  parseTrustList,
} from '@tessera/verifier';
import { Redis } from 'ioredis';

/** verifier/policies/default.json: the policies of the three services, used unless TESSERA_POLICY_FILE is set. */
export const DEFAULT_POLICY_FILE = new URL('../../../verifier/policies/default.json', import.meta.url).pathname;

export interface VerifierPart {
  router: VerifierRouter;
  /** The Redis connection replicas share (TESSERA_REDIS_URL), for other single-use state such as device challenges. */
  redis?: Redis;
  stop(): Promise<void>;
}

/**
 * The verifier as the stack runs it: presentations checked against the event-invalidated DID cache, the trust list
 * (default: the stack's own issuer, for every credential type), the policies, and status lists that the issuer's
 * change events push in (DESIGN §6), so a revocation is refused by the next presentation without any cache expiring.
 */
export async function startVerifierPart(o: {
  resolver: CachedDidResolver;
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
  let nonces: NonceStore = new MemoryNonceStore();
  if (o.redisUrl) {
    redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
    } catch (cause) {
      throw new TesseraError('ERR_UNAVAILABLE', `Redis at TESSERA_REDIS_URL does not answer`, { cause });
    }
    nonces = new RedisNonceStore(redis, { prefix: 'tessera:vp-nonce:' });
  }
  const statusLists = new InMemoryStatusListProvider();
  // ES256K checks and access-token signatures on a second thread (about a quarter of a presentation's event-loop
  // time); without the libsecp256k1 addon they stay on this one.
  const signatureWorker = Secp256k1Worker.start();
  const verifier = new PresentationVerifier({
    resolver: o.resolver,
    trust: trust.value,
    statusLists,
    nonces,
    audience: o.verifierDid,
    ...(signatureWorker ? { signatureWorker } : {}),
  });
  // The issuer runs in this process: its signed list credential is read directly; the verifier still checks it.
  const statusSync = new StatusListSync({
    verifier,
    provider: statusLists,
    fetchList: async (url) => {
      const m = /\/status-lists\/(\d+)\/(revocation|suspension)$/.exec(url);
      if (!m) throw new Error(`not a status list URL: ${url}`);
      const r = await o.issuer.statusListCredential(Number(m[1]), m[2] as 'revocation' | 'suspension');
      if (!r.ok) throw new Error(r.error.message);
      return r.value.jwt;
    },
    onError: (url, e) => o.log.warn({ url, code: e.code, reason: e.message }, 'status list refresh failed'),
  });
  const router = buildVerifierRouter({
    verifier,
    policy: new PolicyEngine(policies.value, { trust: trust.value }),
    tokens: new AccessTokens({
      did: o.verifierDid,
      privateKey: o.verifierPrivateKey,
      ...(signatureWorker ? { worker: signatureWorker } : {}),
    }),
    audience: o.verifierDid,
    statusSync,
    statusLists,
    publicUrl: o.publicUrl,
    log: o.log,
  });
  // Every list in use is installed at start, then kept current by the issuer's events.
  await router.onStatusChange(
    (await o.issuer.statusLists()).flatMap((id) => [
      o.issuer.statusListUrl(id, 'revocation'),
      o.issuer.statusListUrl(id, 'suspension'),
    ]),
  );
  const onIssued = (e: { credential: { credentialStatus: { statusListCredential: string }[] } }) =>
    void router.onStatusChange(e.credential.credentialStatus.map((s) => s.statusListCredential));
  const onStatus = (e: { statusListCredentials: string[] }) => void router.onStatusChange(e.statusListCredentials);
  o.issuer.events.on('issued', onIssued);
  o.issuer.events.on('status', onStatus);
  return {
    router,
    ...(redis ? { redis } : {}),
    async stop() {
      o.issuer.events.off('issued', onIssued);
      o.issuer.events.off('status', onStatus);
      await redis?.quit().catch(() => undefined);
      await signatureWorker?.close();
    },
  };
}
