import {
  ACCESS_SESSION_MAX_S,
  ACCESS_TOKEN_TTL_S,
  err,
  type Logger,
  ok,
  PRESENTATION_NONCE_TTL_MS,
  type PolicySet,
  type Requirement,
  type Result,
  silentLogger,
  type TopicPermissions,
} from '@tessera/protocol';
import { Secp256k1Worker } from '@tessera/runtime';
import type { Resolvable } from 'did-resolver';
import type { RequestHandler } from 'express';
import { type RequireCredentialsOptions, requireCredentials } from './http/guard.js';
import type { RequestBudgetLimits } from './http/request-budget.js';
import { buildVerifierRouter, type VerifierRouter } from './http/router.js';
import { type AccessGrant, AccessTokens, type GrantedCredential, type Scope } from './http/tokens.js';
import {
  type EvaluableCredential,
  isResourcePattern,
  type PolicyDecision,
  PolicyEngine,
  resourceMatches,
} from './policy/engine.js';
import { MemoryNonceStore, MemoryTokenDenylist, type NonceStore, type TokenDenylist } from './vc/nonce-store.js';
import { InMemoryStatusListProvider } from './vc/status.js';
import { StatusListSync } from './vc/status-sync.js';
import { FreshStatusLists } from './vc/status-fresh.js';
import { createOid4vpService, type Oid4vpService } from './oid4vp/service.js';
import type { TrustList } from './vc/trust.js';
import {
  type CredentialCheckOptions,
  checkStatusEntries,
  PresentationVerifier,
  type VerifiedCredential,
  type VerifiedPresentation,
} from './vc/verify.js';

/** What the credential core is: its identity, its rules and its lifetimes. Parsed and frozen by the caller. */
export interface VerifierConfig {
  /** The verifier's DID: the audience every presentation must name, and the issuer and audience of its tokens. */
  did: string;
  /** The secp256k1 private key (0x hex) of that DID; it signs access tokens. Replicas share it. */
  privateKey: string;
  /** Absolute URL where the HTTP API is mounted (for the metadata's endpoints). */
  publicUrl?: string;
  /** Which credentials open which resources and topics (validated policy data). */
  policies: PolicySet;
  /** Which issuers are trusted for which credential types. */
  trust: TrustList;
  /** Default PRESENTATION_NONCE_TTL_MS. */
  nonceTtlMs?: number;
  /**
   * What one source address may ask of `POST /presentation-requests` (rate, nonces held, addresses tracked); default
   * DEFAULT_PRESENTATION_REQUEST_LIMITS.
   */
  requestLimits?: RequestBudgetLimits;
  /** Default ACCESS_TOKEN_TTL_S. */
  tokenTtlSeconds?: number;
  /** How long a sign-in may be renewed before the holder presents again; default ACCESS_SESSION_MAX_S. */
  sessionMaxSeconds?: number;
  /**
   * Refuse credentials without a `credentialStatus` (default true: every credential Tessera issues carries one).
   * Only for relying parties whose trusted issuers publish no status lists.
   */
  requireStatus?: boolean;
  /**
   * Freshness bound of status lists fetched on demand (foreign issuers, or any list no event pushes): refetched once
   * older than this (default DEFAULT_STATUS_MAX_AGE_MS, 60 s).
   */
  statusMaxAgeMs?: number;
  /** How long the last copy serves while its issuer is unreachable (default 10 min); then ERR_VC_STATUS_UNAVAILABLE. */
  statusMaxStaleMs?: number;
}

/** What the credential core needs from around it. */
export interface VerifierDeps {
  /** Resolves DIDs: the event-invalidated cache in production (`createDidResolver`). */
  resolver: Resolvable;
  /** Fetch the status list credential JWT published at `url` (the issuer in this process, or HTTP). */
  fetchStatusList(url: string): Promise<string>;
  /** Single-use presentation nonces; share one (Redis) between replicas. Default: in this process. */
  nonces?: NonceStore;
  /** Tokens signed out before their expiry; share one (Redis) between replicas. Default: in this process. */
  revokedTokens?: TokenDenylist;
  /**
   * libsecp256k1 on a worker thread for the ES256K checks and token signatures (a second core's worth of throughput).
   * Default: started here when the addon loads, closed by `stop`; `false` keeps everything on the calling thread.
   */
  signatureWorker?: Secp256k1Worker | false;
  /**
   * Called with each access token an OpenID4VP response earns, before the wallet and the initiator learn of it: the
   * stack records sign-ins to the issuer's audit trail here, as the issuer's own token endpoint does. A failure refuses
   * the response.
   */
  onOid4vpGrant?: (issued: IssuedToken) => Promise<void>;
  log?: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** A presentation request: what the holder must answer, bound to a single-use nonce. */
export interface PresentationRequestInfo {
  nonce: string;
  audience: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  resource: string;
  action: string;
  requirements: Requirement[];
}

/** A presentation verified for the request its nonce was issued for, and the policy's decision. */
export interface PresentedAccess {
  holder: string;
  scope: Scope;
  decision: PolicyDecision;
  credentials: VerifiedCredential[];
  presentation: VerifiedPresentation;
}

/** An access token, as the token endpoint answers it. */
export interface IssuedToken {
  token: string;
  grant: AccessGrant;
  policies: string[];
}

/**
 * The credential core: verification of credentials and presentations, status and trust, one policy engine
 * for HTTP routes and MQTT topics, access tokens and the route guard. Everything that checks a credential in Tessera
 * goes through one of these: the verifier's HTTP API (`router`), the issuer's admin sign-in, the services' guards,
 * `/verify`, and the broker's topic grants.
 */
export interface Verifier {
  readonly did: string;
  readonly policy: PolicyEngine;
  readonly tokens: AccessTokens;
  readonly statusLists: InMemoryStatusListProvider;
  readonly checks: PresentationVerifier;
  /** Single-use nonces and request state, shared by replicas (OpenID4VP requests keep their state here too). */
  readonly nonces: NonceStore;
  /** Status lists of every trusted issuer as checks read them: pushed, or fetched and refreshed by age. */
  readonly freshStatusLists: FreshStatusLists;
  /** OpenID4VP 1.0 requests and responses on this core (when `publicUrl` is configured). */
  readonly oid4vp?: Oid4vpService;
  /** The HTTP API (express Router, not listening): presentation requests, presentations, tokens, `/verify`. */
  readonly router: VerifierRouter;

  /** A presentation request for `action` on `resource` (a concrete resource, or a sign-in scope: a policy's pattern). */
  request(resource: string, action: string): Promise<Result<PresentationRequestInfo>>;
  /** Verify a presentation and decide it against the request its nonce was issued for (the nonce is spent). */
  present(vp: unknown): Promise<Result<PresentedAccess>>;
  /** `present`, then an access token bound to the holder and that scope. */
  exchange(vp: unknown): Promise<Result<IssuedToken>>;
  /**
   * The end of `present` for a presentation verified elsewhere (an OpenID4VP response: JWT VPs and SD-JWT VCs keyed by
   * query id, whose request was spent once): the policy's decision for the scope the request was issued for.
   */
  decide(verified: VerifiedPresentation): Promise<Result<PresentedAccess>>;
  /** The end of `exchange` for `decide`'s result: the same access token. */
  grant(access: PresentedAccess): Promise<Result<IssuedToken>>;
  /**
   * Verify one credential JWT (signature, trust, validity, status); `options` can name the one issuer accepted
   * instead of the trust list, and whether a status entry is required.
   */
  verifyCredential(jwt: unknown, options?: CredentialCheckOptions): Promise<Result<VerifiedCredential>>;
  /**
   * May the bearer of `token` take `action` on `resource` now? Its signature and lifetime, that it was not signed out,
   * that its scope covers the resource, that none of its credentials was revoked or suspended since, and that the
   * policy for this resource is met by them.
   */
  authorize(token: string, resource: string, action: string): Promise<Result<AccessGrant>>;
  /** Express middleware guarding a route with `authorize`; see `requireCredentials`. */
  guard(options: RequireCredentialsOptions): RequestHandler;
  /** A fresh token for a still valid one (same holder, scopes and credentials), within the session's maximum age. */
  renew(token: string): Promise<Result<IssuedToken>>;
  /** Sign a token out: it is refused everywhere until it would have expired. */
  signOut(token: string): Promise<Result<true>>;
  /** The extra MQTT topics `credentials` open for a device, by policy. */
  topicGrants(device: { deviceId: string; did: string }, credentials: readonly EvaluableCredential[]): TopicPermissions;
  /**
   * Status-list push hook: refetch, verify and install these lists. Presentations and guarded requests
   * arriving meanwhile wait for it, so the first one after a revocation is refused without any cache expiring. A list
   * that cannot be refreshed is dropped (its credentials fail closed with ERR_VC_STATUS_UNAVAILABLE).
   */
  onStatusChange(urls: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

const granted = (vc: VerifiedCredential): GrantedCredential => ({
  types: vc.types,
  issuer: vc.issuer,
  claims: vc.claims,
  ...(vc.expiresAt === undefined ? {} : { expiresAt: vc.expiresAt }),
  status: vc.status,
});

/** One spelling per resource: each segment percent-decoded and re-encoded, so scopes compare as strings. */
function canonicalResource(resource: string): string | undefined {
  try {
    return resource
      .split('/')
      .map((s) => (s === '*' || s === '**' || /^:\w+$/.test(s) ? s : encodeURIComponent(decodeURIComponent(s))))
      .join('/');
  } catch {
    return undefined;
  }
}

/**
 * Build the credential core: the one factory the stack, the issuer's admin sign-in, the services, the simulator, the
 * benches and the tests all call.
 *
 * @example const verifier = createVerifier({ did, privateKey, policies, trust }, { resolver, fetchStatusList })
 */
export function createVerifier(config: VerifierConfig, deps: VerifierDeps): Verifier {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const worker = deps.signatureWorker === false ? undefined : (deps.signatureWorker ?? Secp256k1Worker.start());
  const ownsWorker = deps.signatureWorker === undefined && worker !== undefined;
  const statusLists = new InMemoryStatusListProvider();
  const revoked = deps.revokedTokens ?? new MemoryTokenDenylist(now);
  const sessionMaxS = config.sessionMaxSeconds ?? ACCESS_SESSION_MAX_S;
  const nonces = deps.nonces ?? new MemoryNonceStore({ now });
  // Every check reads lists through this: pushed lists as they are, others fetched and refreshed by age.
  let syncRef: StatusListSync | undefined;
  const fresh = new FreshStatusLists({
    lists: statusLists,
    refresh: (url) => syncRef!.refresh(url),
    ...(config.statusMaxAgeMs === undefined ? {} : { maxAgeMs: config.statusMaxAgeMs }),
    ...(config.statusMaxStaleMs === undefined ? {} : { maxStaleMs: config.statusMaxStaleMs }),
    now,
  });
  const checks = new PresentationVerifier({
    resolver: deps.resolver,
    trust: config.trust,
    statusLists: fresh,
    nonces,
    audience: config.did,
    nonceTtlMs: config.nonceTtlMs ?? PRESENTATION_NONCE_TTL_MS,
    requireStatus: config.requireStatus ?? true,
    now,
    ...(worker ? { signatureWorker: worker } : {}),
  });
  const policy = new PolicyEngine(config.policies, { trust: config.trust, now });
  const tokens = new AccessTokens({
    did: config.did,
    privateKey: config.privateKey,
    ttlSeconds: config.tokenTtlSeconds ?? ACCESS_TOKEN_TTL_S,
    now,
    ...(worker ? { worker } : {}),
  });
  const sync = new StatusListSync({
    verifier: checks,
    provider: statusLists,
    fetchList: deps.fetchStatusList,
    onError: (url, e) => log.warn({ url, code: e.code, reason: e.message }, 'status list refresh failed'),
  });
  syncRef = sync;

  // Status refreshes in flight: verifications wait for them so none runs on a list older than the last change.
  const pending = new Set<Promise<void>>();
  const settled = (): Promise<void> | undefined =>
    pending.size === 0 ? undefined : Promise.allSettled([...pending]).then(() => undefined);

  async function onStatusChange(urls: readonly string[]): Promise<void> {
    const run = Promise.all(
      [...new Set(urls)].map(async (url) => {
        const r = await sync.refresh(url);
        // Fail closed: a list we could not refresh may be missing a revocation (it is fetched again on next use).
        if (!r.ok) fresh.forget(url);
        else fresh.markPushed(url);
      }),
    ).then(() => undefined);
    pending.add(run);
    try {
      await run;
    } finally {
      pending.delete(run);
    }
  }

  async function request(rawResource: string, action: string): Promise<Result<PresentationRequestInfo>> {
    const resource = canonicalResource(rawResource);
    if (resource === undefined) return err('ERR_VALIDATION', 'resource has an invalid percent-encoding');
    // A pattern is only a scope when a policy has exactly that pattern: no one mints a wildcard of their own making.
    if (isResourcePattern(resource) && !policy.scopePolicy(resource, action)) {
      return err('ERR_POLICY_DENIED', `no policy offers sign-in to ${action} on ${resource}`, { reason: 'no-policy' });
    }
    // Deny by default: no request is issued for what no policy grants.
    const requirements = policy.requirementsFor(resource, action);
    if (requirements.length === 0) {
      return err('ERR_POLICY_DENIED', `no policy grants ${action} on ${resource}`, { reason: 'no-policy' });
    }
    const r = await checks.createRequest(JSON.stringify({ resource, action }));
    return ok({ nonce: r.nonce, audience: r.audience, expiresAt: r.expiresAt, resource, action, requirements });
  }

  async function present(vp: unknown): Promise<Result<PresentedAccess>> {
    await settled();
    const verified = await checks.verifyPresentation(vp);
    if (!verified.ok) return verified;
    return decide(verified.value);
  }

  async function decide(verified: VerifiedPresentation): Promise<Result<PresentedAccess>> {
    // The nonce was just consumed (once, on every replica), and its request binding with it.
    const bound = verified.request;
    if (bound === undefined) return err('ERR_VP_NONCE', 'the nonce was not issued by a presentation request');
    const scope = JSON.parse(bound) as Scope;
    const decision = policy.evaluate(scope, verified.credentials);
    if (!decision.ok) return decision;
    return ok({
      holder: verified.holder,
      scope,
      decision: decision.value,
      credentials: verified.credentials,
      presentation: verified,
    });
  }

  async function exchange(vp: unknown): Promise<Result<IssuedToken>> {
    const r = await present(vp);
    if (!r.ok) return r;
    return grant(r.value);
  }

  async function grant(access: PresentedAccess): Promise<Result<IssuedToken>> {
    const r = { value: access };
    const scope: Scope = { resource: r.value.scope.resource, action: r.value.scope.action.toUpperCase() };
    // A sign-in carries every credential presented: each route it opens is decided again by the policy. A request
    // for one resource carries only the credentials that met its policy (minimal disclosure to the service).
    const carried = isResourcePattern(scope.resource)
      ? r.value.credentials
      : [...new Set(r.value.decision.satisfiedBy.map((s) => s.credential))].map((i) => r.value.credentials[i]!);
    const { token, grant } = await tokens.issueAsync(r.value.holder, [scope], carried.map(granted));
    return ok({ token, grant, policies: r.value.decision.policies });
  }

  async function verifyCredential(jwt: unknown, options?: CredentialCheckOptions): Promise<Result<VerifiedCredential>> {
    await settled();
    return checks.verifyCredential(jwt, options);
  }

  /** A token's signature, lifetime and sign-out, and the status of the credentials it was granted on. */
  async function liveGrant(token: string): Promise<Result<AccessGrant>> {
    const verified = tokens.verify(token);
    if (!verified.ok) return verified;
    const grant = verified.value;
    if (!(revoked instanceof MemoryTokenDenylist && revoked.size === 0) && (await revoked.has(grant.tokenId))) {
      return err('ERR_AUTH_INVALID', 'the access token was signed out');
    }
    await settled();
    for (const vc of grant.credentials) {
      const s = await checkStatusEntries(fresh, vc.status, vc.issuer);
      if (!s.ok) {
        return err(
          s.error.code,
          s.error.code === 'ERR_VC_REVOKED'
            ? 'a credential this token was granted on has been revoked'
            : s.error.code === 'ERR_VC_SUSPENDED'
              ? 'a credential this token was granted on is suspended'
              : s.error.message,
        );
      }
    }
    return ok(grant);
  }

  async function authorize(token: string, resource: string, action: string): Promise<Result<AccessGrant>> {
    const live = await liveGrant(token);
    if (!live.ok) return live;
    const grant = live.value;
    const a = action.toUpperCase();
    if (
      !grant.scopes.some(
        (s) => (s.action === '*' || s.action.toUpperCase() === a) && resourceMatches(s.resource, resource),
      )
    ) {
      return err('ERR_FORBIDDEN', `the access token does not grant ${a} on ${resource}`, { reason: 'scope' });
    }
    // The policy decides every request, so a sign-in's token opens exactly what its credentials are allowed.
    const decision = policy.evaluate({ resource, action: a }, grant.credentials);
    if (!decision.ok) return decision;
    return ok(grant);
  }

  async function renew(token: string): Promise<Result<IssuedToken>> {
    const live = await liveGrant(token);
    if (!live.ok) return live;
    const g = live.value;
    const startedAt = g.sessionStartedAt ?? g.issuedAt;
    if (now() / 1000 - startedAt > sessionMaxS) {
      return err('ERR_AUTH_EXPIRED', `the session is older than ${sessionMaxS} s; present your credentials again`);
    }
    const fresh = await tokens.issueAsync(g.holder, g.scopes, g.credentials, { sessionStartedAt: startedAt });
    await revoked.add(g.tokenId, Math.max(1, g.expiresAt * 1000 - now()));
    return ok({ ...fresh, policies: [] });
  }

  async function signOut(token: string): Promise<Result<true>> {
    const verified = tokens.verify(token);
    if (!verified.ok) return verified;
    await revoked.add(verified.value.tokenId, Math.max(1, verified.value.expiresAt * 1000 - now()));
    return ok(true);
  }

  const core = {
    did: config.did,
    policy,
    tokens,
    statusLists,
    checks,
    nonces,
    freshStatusLists: fresh,
    request,
    present,
    exchange,
    decide,
    grant,
    verifyCredential,
    authorize,
    renew,
    signOut,
    topicGrants: (device: { deviceId: string; did: string }, credentials: readonly EvaluableCredential[]) =>
      policy.topicGrants({ deviceId: device.deviceId, did: device.did }, credentials),
    onStatusChange,
    guard: (options: RequireCredentialsOptions) => requireCredentials(core, options),
    async stop() {
      if (ownsWorker) await worker?.close();
    },
  } as Omit<Verifier, 'router' | 'oid4vp'> & { router?: VerifierRouter; oid4vp?: Oid4vpService };
  if (config.publicUrl) {
    core.oid4vp = createOid4vpService(core as Verifier, {
      privateKey: config.privateKey,
      publicUrl: config.publicUrl,
      ...(deps.onOid4vpGrant ? { onGranted: deps.onOid4vpGrant } : {}),
      log,
    });
  }
  core.router = buildVerifierRouter(core as Verifier, {
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    ...(core.oid4vp ? { oid4vp: core.oid4vp } : {}),
    ...(config.requestLimits ? { requestLimits: config.requestLimits } : {}),
    log,
  });
  return core as Verifier;
}
