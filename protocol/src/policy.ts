import { CREDENTIAL_TYPE_NAMES, isCredentialType } from './credentials.js';
import { TOPIC_PATTERNS } from './device.js';
import { err, ok, type Result } from './result.js';
import { z } from 'zod';

/**
 * Policies are data: a resource pattern and actions map to the credentials they need and the constraints on
 * their claims. The same model gates HTTP routes (`/energy/meters/:meterId/orders`, action `POST`) and MQTT topics
 * (`tessera/v1/energy/:meterId/offers`, action `publish`).
 */

const claimPath = z
  .string()
  .regex(/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/, 'must be a claim name or a dotted path such as limit.amount');
const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** One constraint on one claim of the credential's `credentialSubject`. */
export const ClaimConstraintSchema = z.union([
  z.strictObject({ claim: claimPath, equals: scalar }),
  z.strictObject({ claim: claimPath, oneOf: z.array(scalar).min(1).max(1000) }),
  /** The claim must equal a parameter of the request, e.g. the `:meterId` of the route. */
  z.strictObject({ claim: claimPath, equalsParam: z.string().regex(/^\w+$/) }),
  z.strictObject({ claim: claimPath, exists: z.literal(true) }),
  z
    .strictObject({ claim: claimPath, atLeast: z.number().finite().optional(), atMost: z.number().finite().optional() })
    .refine((c) => c.atLeast !== undefined || c.atMost !== undefined, 'give atLeast, atMost or both'),
]);
export type ClaimConstraint = z.infer<typeof ClaimConstraintSchema>;

const credentialTypeName = z.string().refine(isCredentialType, {
  message: `must be one of the credential types Tessera issues: ${CREDENTIAL_TYPE_NAMES.join(', ')}`,
});

export const RequirementSchema = z.strictObject({
  /**
   * The VC type that satisfies this requirement, e.g. EnergyProsumerCredential; or a list of types, any one of which
   * does (for example any role credential to sign in).
   */
  credentialType: z.union([credentialTypeName, z.array(credentialTypeName).min(1).max(16)]),
  /** The issuer must be in the trust list for this type. Default true. */
  trustedIssuer: z.boolean().default(true),
  /** Narrow further to these issuer DIDs (for example one certifier for a given offering). */
  issuers: z.array(z.string().startsWith('did:')).min(1).optional(),
  /** The credential must not be expired at the time of the request. Default true. */
  notExpired: z.boolean().default(true),
  claims: z.array(ClaimConstraintSchema).max(32).default([]),
});
export type Requirement = z.infer<typeof RequirementSchema>;

/** The types one requirement accepts (a single type or any of a list). */
export function requirementTypes(r: Pick<Requirement, 'credentialType'>): readonly string[] {
  return typeof r.credentialType === 'string' ? [r.credentialType] : r.credentialType;
}

const PATTERN_SEGMENT = /^(?::\w+|\*\*?|[\w.~%$-]+)$/;

export const PolicySchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1 to 64 lowercase letters, digits, . _ -'),
  description: z.string().max(500).optional(),
  /** `/`-separated pattern: literal segments, `:name` (one segment, captured), `*` (one segment), `**` (the rest). */
  resource: z.string().min(1).max(256),
  /** HTTP methods or MQTT actions (`publish`, `subscribe`); `*` is any action. */
  actions: z.array(z.string().regex(/^(\*|[A-Za-z]+)$/)).min(1),
  /** Every requirement must be met, each by some credential of the presentation. */
  require: z.array(RequirementSchema).min(1).max(16),
});
export type Policy = z.infer<typeof PolicySchema>;

export const PolicySetSchema = z.strictObject({
  version: z.literal(1),
  policies: z.array(PolicySchema).max(1000),
});
export type PolicySet = z.infer<typeof PolicySetSchema>;

export interface PolicyProblem {
  path: string;
  message: string;
}

/** The parameter names (`:meterId` → `meterId`) of a resource pattern. */
export function patternParams(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((s) => s.startsWith(':'))
    .map((s) => s.slice(1));
}

/** Same literal segments, a parameter where the other has one. */
function sameShape(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  return x.length === y.length && x.every((s, i) => (s.startsWith(':') ? y[i]!.startsWith(':') : s === y[i]));
}

function semanticProblems(set: PolicySet): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const ids = new Set<string>();
  set.policies.forEach((p, i) => {
    if (ids.has(p.id)) problems.push({ path: `policies.${i}.id`, message: `duplicate policy id '${p.id}'` });
    ids.add(p.id);
    const segments = p.resource.replace(/^\//, '').split('/');
    // An MQTT topic (no leading '/'): one of the topic tree's patterns, parameters named as the policy likes.
    if (!p.resource.startsWith('/') && !TOPIC_PATTERNS.some((t) => sameShape(t, p.resource))) {
      problems.push({
        path: `policies.${i}.resource`,
        message: `'${p.resource}' is not a topic of the topic tree (${TOPIC_PATTERNS.join(', ')})`,
      });
    }
    segments.forEach((s, j) => {
      if (!PATTERN_SEGMENT.test(s)) {
        problems.push({ path: `policies.${i}.resource`, message: `segment '${s}' is not a literal, :name, * or **` });
      }
      if (s === '**' && j !== segments.length - 1) {
        problems.push({ path: `policies.${i}.resource`, message: '** may only be the last segment' });
      }
    });
    const params = patternParams(p.resource);
    if (new Set(params).size !== params.length) {
      problems.push({ path: `policies.${i}.resource`, message: 'a parameter name is used twice' });
    }
    p.require.forEach((r, k) => {
      r.claims.forEach((c, m) => {
        if ('equalsParam' in c && !params.includes(c.equalsParam)) {
          problems.push({
            path: `policies.${i}.require.${k}.claims.${m}.equalsParam`,
            message: `'${c.equalsParam}' is not a parameter of resource '${p.resource}' (has: ${params.join(', ') || 'none'})`,
          });
        }
      });
    });
  });
  return problems;
}

export function invalidPolicy(
  problems: PolicyProblem[],
  source: string,
): { ok: false; error: ReturnType<typeof err>['error'] } {
  return err(
    'ERR_POLICY_INVALID',
    `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ')}`,
    problems,
  );
}

/**
 * Validate policy data, reporting every problem at once.
 *
 * @returns the policy set with defaults filled in, or ERR_POLICY_INVALID with `details` listing `{ path, message }`.
 */
export function parsePolicySet(data: unknown, source = 'policy set'): Result<PolicySet> {
  const parsed = PolicySetSchema.safeParse(data);
  if (!parsed.success) {
    return invalidPolicy(
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message })),
      source,
    );
  }
  const problems = semanticProblems(parsed.data);
  return problems.length > 0 ? invalidPolicy(problems, source) : ok(parsed.data);
}
