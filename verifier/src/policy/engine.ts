import {
  type ClaimConstraint,
  err,
  ok,
  type Policy,
  type PolicySet,
  type Requirement,
  type Result,
  requirementTypes,
  type TopicPermissions,
} from '@tessera/protocol';
import { isTrustedIssuer, normaliseDid, type TrustList } from '../vc/trust.js';
import type { VerifiedCredential } from '../vc/verify.js';

/** What the engine reads of a credential: a verified one, or one an access token was granted on. */
export type EvaluableCredential = Pick<VerifiedCredential, 'types' | 'issuer' | 'claims' | 'expiresAt'>;

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
  return matchParts(segments, parts);
}

function matchParts(segments: string[], parts: string[]): Record<string, string> | undefined {
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

/**
 * Does `resource` fall under `pattern` (the policy pattern syntax: literal segments, `:name`, `*`, `**` last)? Access
 * tokens carry their scope as such a pattern: a concrete resource for a wallet's request, a policy's own pattern
 * (for example `/issuer/**`) for a sign-in.
 */
export function resourceMatches(pattern: string, resource: string): boolean {
  return matchPattern(pattern.replace(/^\//, '').split('/'), resource) !== undefined;
}

/** True when a resource string is a pattern (has a `*`, `**` or `:name` segment) rather than one resource. */
export function isResourcePattern(resource: string): boolean {
  return resource
    .replace(/^\//, '')
    .split('/')
    .some((s) => s === '*' || s === '**' || s.startsWith(':'));
}

const MQTT_ACTIONS = new Set(['PUBLISH', 'SUBSCRIBE']);

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
 * Evaluates policies against verified credentials. Deny by default: a resource and action that no policy
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

  /** The policy whose resource pattern is exactly `pattern` and that covers `action` (a sign-in scope), if any. */
  scopePolicy(pattern: string, action: string): Policy | undefined {
    const a = action.toUpperCase();
    return this.compiled.find((c) => c.policy.resource === pattern && (c.actions.has('*') || c.actions.has(a)))?.policy;
  }

  /**
   * The MQTT topic filters that `credentials` open for a device (the same policies gate topics): every
   * policy on a topic pattern with action `publish` or `subscribe` whose requirements the credentials meet, its
   * `:name` segments filled from `params` (for example the device's `deviceId`) or from the claim a requirement binds
   * to that parameter, `*` and `**` becoming MQTT's `+` and `#`.
   */
  topicGrants(params: Record<string, string>, credentials: readonly EvaluableCredential[]): TopicPermissions {
    const grants: TopicPermissions = { publish: [], subscribe: [] };
    for (const c of this.compiled) {
      const actions = [...c.actions].filter((a) => MQTT_ACTIONS.has(a));
      if (actions.length === 0 || c.segments[0] !== 'tessera') continue;
      for (const bound of this.bindings(c, params, credentials)) {
        const topic = c.segments
          .map((seg) => (seg === '**' ? '#' : seg === '*' ? '+' : seg.startsWith(':') ? bound[seg.slice(1)]! : seg))
          .join('/');
        if (this.evaluatePolicies([{ policy: c.policy, params: bound }], {}, credentials).ok) {
          for (const a of actions) {
            const list = a === 'PUBLISH' ? grants.publish : grants.subscribe;
            if (!list.includes(topic)) list.push(topic);
          }
        }
      }
    }
    return grants;
  }

  /** Every way to fill a pattern's parameters: from `params`, else from claims that `equalsParam` binds to them. */
  private bindings(
    c: CompiledPolicy,
    params: Record<string, string>,
    credentials: readonly EvaluableCredential[],
  ): Record<string, string>[] {
    let out: Record<string, string>[] = [{}];
    for (const seg of c.segments) {
      if (!seg.startsWith(':')) continue;
      const name = seg.slice(1);
      const known = params[name];
      const values = new Set<string>(known !== undefined ? [known] : []);
      if (known === undefined) {
        for (const r of c.policy.require) {
          for (const k of r.claims) {
            if (!('equalsParam' in k) || k.equalsParam !== name) continue;
            for (const vc of credentials) {
              if (!requirementTypes(r).some((t) => vc.types.includes(t))) continue;
              const v = claimAt(vc.claims, k.claim);
              // a value must be one MQTT topic level (MQTT 3.1.1 §4.7.1)
              if (
                (typeof v === 'string' || typeof v === 'number') &&
                !/[/+#]/.test(String(v)) &&
                !String(v).includes('\0') &&
                String(v).length <= 128 &&
                String(v) !== ''
              )
                values.add(String(v));
            }
          }
        }
      }
      out = out.flatMap((b) => [...values].map((v) => ({ ...b, [name]: v })));
    }
    return out;
  }

  /** Decide whether `credentials` (already verified) grant `request`. */
  evaluate(request: AccessRequest, credentials: readonly EvaluableCredential[]): Result<PolicyDecision> {
    const matched = this.match(request.resource, request.action);
    if (matched.length === 0) {
      return deny(`no policy grants ${request.action} on ${request.resource}`, { reason: 'no-policy' });
    }
    return this.evaluatePolicies(matched, request.params ?? {}, credentials);
  }

  private evaluatePolicies(
    matched: Array<{ policy: Policy; params: Record<string, string> }>,
    extra: Record<string, string>,
    credentials: readonly EvaluableCredential[],
  ): Result<PolicyDecision> {
    const decision: PolicyDecision = { policies: [], params: {}, satisfiedBy: [] };
    for (const { policy, params: captured } of matched) {
      const params = { ...extra, ...captured };
      Object.assign(decision.params, params);
      for (const [k, requirement] of policy.require.entries()) {
        const r = this.satisfy(requirement, credentials, params);
        if (!r.ok) {
          const where = `policy ${policy.id}, requirement ${k} (${requirementTypes(requirement).join(' or ')})`;
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
    credentials: readonly EvaluableCredential[],
    params: Record<string, string>,
  ): { ok: true; index: number } | { ok: false; message: string; denial: PolicyDenial } {
    let first: { message: string; denial: PolicyDenial } | undefined;
    const types = requirementTypes(req);
    for (const [index, vc] of credentials.entries()) {
      const type = types.find((t) => vc.types.includes(t));
      if (type === undefined) continue;
      const failure = this.check(req, type, vc, params);
      if (!failure) return { ok: true, index };
      first ??= failure;
    }
    const wanted = types.join(' or ');
    return {
      ok: false,
      ...(first ?? {
        message: `needs a credential of type ${wanted}, and the presentation has none`,
        denial: { reason: 'missing-credential', credentialType: wanted },
      }),
    };
  }

  private check(
    req: Requirement,
    type: string,
    vc: EvaluableCredential,
    params: Record<string, string>,
  ): { message: string; denial: PolicyDenial } | undefined {
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
