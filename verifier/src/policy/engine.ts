import { err, ok, type Result } from '@tessera/protocol';
import { isTrustedIssuer, normaliseDid, type TrustList } from '../vc/trust.js';
import type { VerifiedCredential } from '../vc/verify.js';
import type { ClaimConstraint, Policy, PolicySet, Requirement } from './schema.js';

export interface AccessRequest {
  /** An HTTP path (`/energy/meters/DE0001/orders`) or an MQTT topic. */
  resource: string;
  /** HTTP method or MQTT action. */
  action: string;
  /** Extra request parameters; the parameters captured by the resource pattern take precedence. */
  params?: Record<string, string>;
}

/** Why a requirement was not met, for the refusal's `details` (and for a wallet to say what is missing). */
export type DenialReason =
  | 'no-policy'
  | 'missing-credential'
  | 'untrusted-issuer'
  | 'issuer-not-allowed'
  | 'expired'
  | 'claim-mismatch';

export interface PolicyDenial {
  reason: DenialReason;
  policy?: string;
  /** Index of the requirement in the policy's `require` list. */
  requirement?: number;
  credentialType?: string;
  claim?: string;
  constraint?: ClaimConstraint;
}

export interface PolicyDecision {
  /** Ids of the policies that matched and were all satisfied. */
  policies: string[];
  params: Record<string, string>;
  /** For each policy and requirement, the credential (index into the input) that met it. */
  satisfiedBy: Array<{ policy: string; requirement: number; credential: number }>;
}

interface CompiledPolicy {
  policy: Policy;
  segments: string[];
  actions: Set<string>;
}

function compile(policy: Policy): CompiledPolicy {
  return {
    policy,
    segments: policy.resource.replace(/^\//, '').split('/'),
    actions: new Set(policy.actions.map((a) => a.toUpperCase())),
  };
}

function matchPattern(segments: string[], resource: string): Record<string, string> | undefined {
  const parts = resource.replace(/^\//, '').split('/');
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '**') return params;
    const part = parts[i];
    if (part === undefined || part === '') return undefined;
    if (seg.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return undefined;
      }
      params[seg.slice(1)] = value;
    } else if (seg !== '*' && seg !== part) return undefined;
  }
  return parts.length === segments.length ? params : undefined;
}

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let v: unknown = claims;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function meets(c: ClaimConstraint, claims: Record<string, unknown>, params: Record<string, string>): boolean {
  const v = claimAt(claims, c.claim);
  if ('equals' in c) return v === c.equals;
  if ('oneOf' in c) return c.oneOf.some((x) => x === v);
  if ('equalsParam' in c) {
    const p = params[c.equalsParam];
    return p !== undefined && (typeof v === 'string' || typeof v === 'number') && String(v) === p;
  }
  if ('exists' in c) return v !== undefined && v !== null;
  if (typeof v !== 'number') return false;
  return (c.atLeast === undefined || v >= c.atLeast) && (c.atMost === undefined || v <= c.atMost);
}

function describeConstraint(c: ClaimConstraint, params: Record<string, string>): string {
  if ('equals' in c) return `${c.claim} must equal ${JSON.stringify(c.equals)}`;
  if ('oneOf' in c) return `${c.claim} must be one of ${c.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
  if ('equalsParam' in c) return `${c.claim} must equal the request's ${c.equalsParam} (${params[c.equalsParam]})`;
  if ('exists' in c) return `${c.claim} must be present`;
  return `${c.claim} must be ${[c.atLeast === undefined ? '' : `>= ${c.atLeast}`, c.atMost === undefined ? '' : `<= ${c.atMost}`].filter(Boolean).join(' and ')}`;
}

/**
 * Evaluates policies against verified credentials (DESIGN §7). Deny by default: a resource and action that no policy
 * covers are refused. When several policies match, all of them must be met. A refusal is ERR_POLICY_DENIED whose
 * message and `details` (a PolicyDenial) say which requirement failed and why.
 */
export class PolicyEngine {
  private readonly compiled: CompiledPolicy[];
  private readonly trust: TrustList;
  private readonly now: () => number;

  constructor(set: PolicySet, options: { trust: TrustList; now?: () => number }) {
    this.compiled = set.policies.map(compile);
    this.trust = options.trust;
    this.now = options.now ?? Date.now;
  }

  /** The policies covering a resource and action, with the parameters each pattern captured. */
  match(resource: string, action: string): Array<{ policy: Policy; params: Record<string, string> }> {
    const out: Array<{ policy: Policy; params: Record<string, string> }> = [];
    const a = action.toUpperCase();
    for (const c of this.compiled) {
      if (!c.actions.has('*') && !c.actions.has(a)) continue;
      const params = matchPattern(c.segments, resource);
      if (params) out.push({ policy: c.policy, params });
    }
    return out;
  }

  /** What a presentation for this resource and action must contain (for a presentation request). */
  requirementsFor(resource: string, action: string): Requirement[] {
    return this.match(resource, action).flatMap((m) => m.policy.require);
  }

  /** Decide whether `credentials` (already verified) grant `request`. */
  evaluate(request: AccessRequest, credentials: readonly VerifiedCredential[]): Result<PolicyDecision> {
    const matched = this.match(request.resource, request.action);
    if (matched.length === 0) {
      return deny(`no policy grants ${request.action} on ${request.resource}`, { reason: 'no-policy' });
    }
    const decision: PolicyDecision = { policies: [], params: {}, satisfiedBy: [] };
    for (const { policy, params: captured } of matched) {
      const params = { ...request.params, ...captured };
      Object.assign(decision.params, params);
      for (const [k, requirement] of policy.require.entries()) {
        const r = this.satisfy(requirement, credentials, params);
        if (!r.ok) {
          const where = `policy ${policy.id}, requirement ${k} (${requirement.credentialType})`;
          return deny(`${where}: ${r.message}`, { ...r.denial, policy: policy.id, requirement: k });
        }
        decision.satisfiedBy.push({ policy: policy.id, requirement: k, credential: r.index });
      }
      decision.policies.push(policy.id);
    }
    return ok(decision);
  }

  private satisfy(
    req: Requirement,
    credentials: readonly VerifiedCredential[],
    params: Record<string, string>,
  ): { ok: true; index: number } | { ok: false; message: string; denial: PolicyDenial } {
    let first: { message: string; denial: PolicyDenial } | undefined;
    const type = req.credentialType;
    for (const [index, vc] of credentials.entries()) {
      if (!vc.types.includes(type)) continue;
      const failure = this.check(req, vc, params);
      if (!failure) return { ok: true, index };
      first ??= failure;
    }
    return {
      ok: false,
      ...(first ?? {
        message: `needs a credential of type ${type}, and the presentation has none`,
        denial: { reason: 'missing-credential', credentialType: type },
      }),
    };
  }

  private check(
    req: Requirement,
    vc: VerifiedCredential,
    params: Record<string, string>,
  ): { message: string; denial: PolicyDenial } | undefined {
    const type = req.credentialType;
    if (req.trustedIssuer && !isTrustedIssuer(this.trust, type, vc.issuer)) {
      return {
        message: `the ${type} is from ${vc.issuer}, not trusted for it`,
        denial: { reason: 'untrusted-issuer', credentialType: type },
      };
    }
    if (req.issuers && !req.issuers.some((d) => normaliseDid(d) === normaliseDid(vc.issuer))) {
      return {
        message: `the ${type} is from ${vc.issuer}, not one of the issuers this resource accepts`,
        denial: { reason: 'issuer-not-allowed', credentialType: type },
      };
    }
    if (req.notExpired && vc.expiresAt !== undefined && vc.expiresAt * 1000 <= this.now()) {
      return { message: `the ${type} has expired`, denial: { reason: 'expired', credentialType: type } };
    }
    for (const c of req.claims) {
      if (!meets(c, vc.claims, params)) {
        return {
          message: describeConstraint(c, params),
          denial: { reason: 'claim-mismatch', credentialType: type, claim: c.claim, constraint: c },
        };
      }
    }
    return undefined;
  }
}

function deny(message: string, denial: PolicyDenial): { ok: false; error: ReturnType<typeof err>['error'] } {
  return err('ERR_POLICY_DENIED', message, denial);
}
