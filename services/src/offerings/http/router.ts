import { createHash } from 'node:crypto';
import { RESTRICTION_ERROR, SecurityToken__factory, TransferRestriction } from '@tessera/contracts';
import {
  ERROR_CODES,
  type ErrorCode,
  ethrAddress,
  type Logger,
  type Result,
  silentLogger,
  TesseraError,
  GUARD_ERRORS,
} from '@tessera/protocol';
import { type ApiRoute, attachOpenApi, BODY_ERRORS, errorHandler, HttpApi, jsonBody } from '@tessera/runtime/http';
import { type AccessGrant, normaliseDid, type RequireCredentialsOptions, type Verifier } from '@tessera/verifier';
import { isAddress, type JsonRpcProvider } from 'ethers';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { type Certification, checkCertifier, checkOfferingIssuer, type VerifiedInvestorCredential } from '../rules.js';
import type { OfferingPayments } from '../payments.js';
import type { Offering, OfferingService } from '../service.js';
import type { OfferingStore } from '../store.js';
import { OfferingTermsSchema, offeringUrn, parseTerms } from '../terms.js';
import { credentialKey } from './revocations.js';

/** The VC type a certifier signs about an offering (subject `urn:tessera:offering:<id>`). */
export const OFFERING_CERTIFICATION_CREDENTIAL = 'OfferingCertificationCredential';

/** The resources of verifier/policies/default.json that guard these routes (the policy decides what they need). */
export const OFFERING_RESOURCES = {
  create: '/offerings',
  certify: '/offerings/:offeringId/certification',
  subscribe: '/offerings/:offeringId/subscriptions',
  allocate: '/offerings/:offeringId/allocation',
  recordCoupon: '/offerings/:offeringId/coupons/:coupon/record',
  redeem: '/offerings/:offeringId/redemption',
  mySubscriptions: '/offerings/me/subscriptions',
} as const;

export interface OfferingsRouterDeps {
  service: OfferingService;
  /** Coupons and redemption. */
  payments: OfferingPayments;
  store: OfferingStore;
  /** For the ERC-1404 pre-flight reads. */
  provider: JsonRpcProvider;
  /** The verifier's guard (`verifierRouter.requireCredentials`). */
  requireCredentials(options: RequireCredentialsOptions): RequestHandler;
  /**
   * The credential core's check of one credential, for certification credentials: signed by the certifier named as
   * their issuer (not by an issuer of the trust list), valid now, status checked when it has one.
   */
  verifyCredential: Verifier['verifyCredential'];
  /** Deploy the offering's SecurityToken (owner: the platform's deployer key; agent: the outbox account). */
  deployToken(offering: Offering): Promise<string>;
  /** Absolute URL the router is mounted at, for the OpenAPI document. */
  publicUrl?: string;
  log?: Logger;
}

const Quantity = z.number().int('must be whole units').min(1).max(1_000_000_000_000);
const SubscribeBody = z.strictObject({
  quantity: Quantity,
  /** Defaults to the address of the holder's did:ethr; any other wallet is refused. */
  wallet: z
    .string()
    .refine((s) => isAddress(s), 'must be an EVM address')
    .optional(),
});
const CreateBody = z.strictObject({ terms: z.unknown() });
const CertifyBody = z.strictObject({
  credential: z
    .string()
    .min(1)
    .max(16 * 1024),
});
const AddressQ = z.string().refine((s) => isAddress(s), 'must be an EVM address');
const TransferCheckQuery = z.strictObject({
  from: AddressQ,
  to: AddressQ,
  /** Token base units, decimal. */
  amount: z.string().regex(/^[0-9]{1,78}$/, 'must be a whole number of token base units'),
});
const UnixSeconds = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const TransferBody = z.strictObject({
  authorization: z
    .strictObject({
      from: AddressQ.meta({ description: "the holder's address: the signer" }),
      to: AddressQ,
      value: z
        .string()
        .regex(/^[1-9][0-9]{0,77}$/, 'must be a positive whole number of token base units')
        .refine((v) => BigInt(v) < 2n ** 256n, 'must fit in uint256'),
      validAfter: UnixSeconds.meta({ description: 'unix seconds; valid strictly after (0: at once)' }),
      validBefore: UnixSeconds.meta({ description: 'unix seconds; valid strictly before' }),
      nonce: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 32 random bytes as 0x + 64 hex digits'),
    })
    .meta({
      id: 'TransferAuthorization',
      description:
        "EIP-3009 TransferWithAuthorization, EIP-712 domain { name: the token's name, version: '1', chainId, verifyingContract: the token }",
    }),
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte signature (0x r‖s‖v)')
    .meta({ description: "the holder's EIP-712 signature of the authorisation" }),
});
const OfferingIdParam = z.string().regex(/^[a-z0-9][a-z0-9-]{2,63}$/, 'not an offering id');
const CouponParam = z.coerce.number().int().min(1).max(100);

/** The offerings' own refusals (ERR_OFFERING_*): which apply depends on the offering's state and terms. */
const OFFERING = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => c.startsWith('ERR_OFFERING_'));
const OfferingPath = z.object({ offeringId: OfferingIdParam });
const CouponPath = z.object({ offeringId: OfferingIdParam, coupon: CouponParam });
const secured = (policy: string) => ({
  bearer: true,
  description: `Bearer access token from the verifier (POST /verifier/presentation-requests, then POST /verifier/presentations) for policy \`${policy}\`.`,
});
const iso = z.string().meta({ format: 'date-time' });
const BaseUnits = z
  .string()
  .regex(/^[0-9]+$/)
  .meta({ description: 'token base units, decimal' });
const CertificationView = z
  .object({
    certifier: z.string().meta({ description: 'DID of the certifier (the issuer of the certification credential)' }),
    credentialId: z
      .string()
      .meta({ description: "the certification credential's id (jti), or the SHA-256 of the JWT" }),
    subject: z.string().meta({ description: 'urn:tessera:offering:<id>' }),
    scheme: z.string().optional().meta({ description: 'for example "Climate Bonds Standard v4"' }),
    documentsSha256: z.array(z.string()).optional().meta({ description: 'the document set the certifier reviewed' }),
    expiresAt: z.number().int().optional().meta({ description: 'Unix seconds; the badge shows only while it holds' }),
    certifierCredentialId: z.string().optional().meta({
      description: "the status entry of the certifier's CertifierCredential: revoking it withdraws the badge",
    }),
    withdrawn: z
      .boolean()
      .optional()
      .meta({ description: "set while the certifier's credential is revoked or suspended" }),
  })
  .meta({ id: 'OfferingCertification' });
// The terms are checked by the domain (parseTerms) with this schema; the route checks the envelope.
const OfferingTerms = OfferingTermsSchema.meta({ id: 'OfferingTerms' });
const CreateDoc = z.strictObject({ terms: OfferingTerms });
const OfferingView = z
  .object({
    id: z.string(),
    issuer: z.string().meta({ description: 'DID of the issuer organisation' }),
    terms: OfferingTerms,
    status: z.enum(['open', 'allocated', 'redeemed', 'cancelled']),
    tokenAddress: z.string().nullable(),
    certification: CertificationView.nullable(),
    certified: z.boolean().meta({ description: 'the certification badge shows now' }),
    subscribed: z.number().int(),
    remaining: z.number().int(),
    createdAt: iso,
    allocatedAt: iso.nullable(),
  })
  .meta({ id: 'Offering' });
const Subscription = z
  .object({
    id: z.string(),
    offeringId: z.string(),
    investor: z.string().meta({ description: 'the investor DID (the access token holder)' }),
    wallet: z.string().meta({ description: "the holder's own wallet, lower case: receives the tokens" }),
    quantity: z.number().int().meta({ description: 'whole units requested' }),
    jurisdiction: z
      .string()
      .meta({ description: "the investor's jurisdiction from the credential (ISO 3166 alpha-2)" }),
    credentialId: z.string().meta({ description: 'the AccreditedInvestor credential it was taken with' }),
    status: z.enum(['subscribed', 'allocated', 'minted', 'unallocated', 'mint-failed']),
    allocated: z.number().int().nullable().meta({ description: 'whole units allocated at close (null before)' }),
    mintKey: z.string().nullable().meta({ description: 'outbox key of the mint' }),
    error: z.string().nullable().meta({ description: 'why the mint failed' }),
    createdAt: iso,
    updatedAt: iso,
  })
  .meta({ id: 'Subscription' });
const Allocation = z
  .object({
    id: z.string().meta({ description: 'the subscription' }),
    requested: z.number().int(),
    allocated: z.number().int().meta({ description: 'whole units (0: the ticket was dropped)' }),
  })
  .meta({ id: 'OfferingAllocation' });
const AllocationReport = z
  .object({
    offering: OfferingView,
    allocations: z.array(Allocation),
    mint: z
      .object({
        minted: z.number().int(),
        pending: z.number().int(),
        failed: z.array(z.object({ subscriptionId: z.string(), error: z.string() })),
      })
      .meta({ description: 'the mints through the outbox, one per allocated subscription' }),
  })
  .meta({ id: 'OfferingAllocationReport' });
const Coupon = z
  .object({
    number: z.number().int().meta({ description: '1 for the first coupon' }),
    recordAt: iso.meta({ description: 'holders of record at this time are paid (paysAt less recordDays)' }),
    paysAt: iso,
    perUnit: z
      .string()
      .regex(/^[0-9]+(\.[0-9]+)?$/)
      .meta({ description: 'minor units owed per whole unit held, exact, decimal (for example "175" or "87.5")' }),
  })
  .meta({ id: 'Coupon' });
const Payment = z
  .object({
    id: z.string().meta({ description: '<offering>:coupon:<n>:<wallet> or <offering>:redemption:<wallet>' }),
    offeringId: z.string(),
    kind: z.enum(['coupon', 'redemption']),
    coupon: z.number().int().meta({ description: "the coupon's number; 0 for the redemption" }),
    blockNumber: z.number().int().meta({ description: 'the block whose balances the record was taken from' }),
    wallet: z.string(),
    balance: BaseUnits.meta({ description: 'token base units held at that block, decimal' }),
    amount: z.number().int().meta({ description: 'minor units of currency owed, rounded down' }),
    currency: z.string(),
    status: z
      .enum(['due', 'withheld'])
      .meta({ description: 'withheld: the wallet was not eligible at the record block; paid once it is' }),
    burnKey: z.string().nullable().meta({ description: 'outbox key of the burn (redemption only)' }),
    createdAt: iso,
  })
  .meta({ id: 'OfferingPayment' });
const RecordBlock = z.number().int().meta({ description: 'the block whose balances were recorded' });
const TransferCheck = z
  .object({
    allowed: z.boolean(),
    code: z.number().int().meta({ description: 'ERC-1404 restriction code (0: allowed)' }),
    name: z.enum([...(Object.keys(TransferRestriction) as [string, ...string[]]), 'UNKNOWN']),
    message: z.string().meta({ description: "the token's messageForTransferRestriction" }),
    revertsWith: z
      .string()
      .nullable()
      .optional()
      .meta({ description: 'the custom error the transfer would revert with (absent when allowed)' }),
  })
  .meta({ id: 'OfferingTransferCheck' });

/** Each route of the API, declared once: validation and the document come from these. */
const ROUTES = {
  list: {
    method: 'get',
    path: '/',
    summary: 'List offerings',
    responses: { 200: { description: 'The offerings', schema: z.object({ items: z.array(OfferingView) }) } },
  },
  create: {
    method: 'post',
    path: '/',
    summary: 'Create an offering from its terms (an OfferingIssuerCredential holder); its token is deployed',
    ...secured('offering.create'),
    body: CreateDoc,
    validateBody: false,
    responses: { 201: { description: 'The offering', schema: OfferingView } },
    errors: [...GUARD_ERRORS, ...OFFERING, ...BODY_ERRORS],
  },
  mine: {
    method: 'get',
    path: '/me/subscriptions',
    summary: "The holder's subscriptions (AccreditedInvestorCredential)",
    ...secured('offering.subscriptions.read'),
    responses: { 200: { description: 'Subscriptions', schema: z.object({ items: z.array(Subscription) }) } },
    errors: [...GUARD_ERRORS],
  },
  one: {
    method: 'get',
    path: '/{offeringId}',
    summary: 'One offering',
    params: OfferingPath,
    responses: { 200: { description: 'The offering', schema: OfferingView } },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'],
  },
  certify: {
    method: 'post',
    path: '/{offeringId}/certification',
    summary: 'Record a certification: an OfferingCertificationCredential (VC-JWT) signed by the certifier',
    ...secured('offering.certify'),
    params: OfferingPath,
    body: CertifyBody,
    responses: { 200: { description: 'The certified offering', schema: OfferingView } },
    errors: [...GUARD_ERRORS, ...OFFERING, ...BODY_ERRORS],
  },
  subscribe: {
    method: 'post',
    path: '/{offeringId}/subscriptions',
    summary: 'Subscribe (AccreditedInvestorCredential); the claims come from the verified access token',
    ...secured('offering.subscribe'),
    params: OfferingPath,
    body: SubscribeBody,
    responses: { 201: { description: 'The subscription', schema: Subscription } },
    errors: [...GUARD_ERRORS, ...OFFERING, ...BODY_ERRORS],
  },
  allocate: {
    method: 'post',
    path: '/{offeringId}/allocation',
    summary: "Close, allocate and mint through the outbox (the offering's issuer, after closesAt); idempotent",
    ...secured('offering.allocate'),
    params: OfferingPath,
    responses: {
      200: {
        description: 'The offering, its allocations and the mint',
        schema: AllocationReport,
      },
    },
    errors: [...GUARD_ERRORS, 'ERR_FORBIDDEN', 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_STATE'],
  },
  holdings: {
    method: 'get',
    path: '/{offeringId}/holdings',
    summary: 'Holders of record (wallet and balance in token base units, from the chain)',
    params: OfferingPath,
    responses: {
      200: {
        description: 'Holdings',
        schema: z.object({ items: z.array(z.object({ wallet: z.string(), balance: BaseUnits })) }),
      },
    },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'],
  },
  coupons: {
    method: 'get',
    path: '/{offeringId}/coupons',
    summary: 'The coupon schedule from the terms (empty without a coupon)',
    params: OfferingPath,
    responses: { 200: { description: 'The schedule', schema: z.object({ items: z.array(Coupon) }) } },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'],
  },
  recordCoupon: {
    method: 'post',
    path: '/{offeringId}/coupons/{coupon}/record',
    summary: "Record coupon n as due: one payment per holder of record, pro rata (the offering's issuer)",
    ...secured('offering.coupons.record'),
    params: CouponPath,
    responses: {
      200: {
        description: 'The coupon and its payments',
        schema: z.object({ coupon: Coupon, blockNumber: RecordBlock, payments: z.array(Payment) }),
      },
    },
    errors: [...GUARD_ERRORS, ...OFFERING, 'ERR_FORBIDDEN', 'ERR_VALIDATION'],
  },
  couponPayments: {
    method: 'get',
    path: '/{offeringId}/coupons/{coupon}/payments',
    summary: 'The payment records of coupon n (empty until recorded)',
    params: CouponPath,
    responses: {
      200: {
        description: 'The coupon and its payments',
        schema: z.object({ coupon: Coupon, items: z.array(Payment) }),
      },
    },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_COUPON_UNKNOWN'],
  },
  redeem: {
    method: 'post',
    path: '/{offeringId}/redemption',
    summary:
      "Redeem at maturity: one payment per holder of record, then the token is paused (the offering's issuer); idempotent",
    ...secured('offering.redeem'),
    params: OfferingPath,
    responses: {
      200: {
        description: 'The offering and its redemption',
        schema: z.object({
          offering: OfferingView,
          blockNumber: RecordBlock.meta({ description: 'the block whose balances were recorded (0: no holders)' }),
          payments: z.array(Payment),
          burn: z
            .object({
              burned: z.number().int(),
              pending: z.number().int(),
              failed: z.array(z.object({ wallet: z.string(), error: z.string() })),
            })
            .meta({ description: "the burns of the holders' units through the outbox" }),
        }),
      },
    },
    errors: [...GUARD_ERRORS, ...OFFERING, 'ERR_FORBIDDEN'],
  },
  redemption: {
    method: 'get',
    path: '/{offeringId}/redemption',
    summary: 'The redemption payments (empty until redeemed)',
    params: OfferingPath,
    responses: { 200: { description: 'Payments', schema: z.object({ items: z.array(Payment) }) } },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'],
  },
  transfer: {
    method: 'post',
    path: '/{offeringId}/transfers',
    summary:
      "Relay a transfer the holder signed (EIP-3009 transferWithAuthorization): the platform's relayer sends it and pays the gas; the token checks both parties",
    params: OfferingPath,
    body: TransferBody,
    responses: {
      200: {
        description: 'The transfer, mined',
        schema: z.object({
          offeringId: z.string(),
          from: z.string(),
          to: z.string(),
          value: z.string(),
          nonce: z.string(),
          txHash: z.string().nullable(),
          blockNumber: z.number().int().nullable(),
        }),
      },
    },
    errors: [
      ...BODY_ERRORS,
      'ERR_OFFERING_NOT_FOUND',
      'ERR_OFFERING_STATE',
      'ERR_OFFERING_AUTHORIZATION_INVALID',
      'ERR_OFFERING_AUTHORIZATION_USED',
      'ERR_OFFERING_TRANSFER_RESTRICTED',
      'ERR_RATE_LIMITED',
      'ERR_CHAIN_TX_FAILED',
    ],
  },
  transferCheck: {
    method: 'get',
    path: '/{offeringId}/transfer-check',
    summary: "ERC-1404 pre-flight: would this transfer go through, and if not, why (the token's own check)",
    params: OfferingPath,
    query: TransferCheckQuery,
    responses: {
      200: { description: 'The answer', schema: TransferCheck },
    },
    errors: ['ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_STATE'],
  },
} satisfies Record<string, ApiRoute<never, never, never> | Record<string, unknown>>;

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || `(${where})`,
    message: i.message,
  }));
  throw new TesseraError(
    'ERR_VALIDATION',
    `the ${where} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { details: issues },
  );
}

function bodyOf<T>(schema: z.ZodType<T>, req: Request): T {
  if (!req.is('application/json'))
    throw new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  return parse(schema, req.body, 'body');
}

/** A Result's error as a coded throw, mapped to its status by the error handler. */
function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new TesseraError(
    r.error.code as ErrorCode,
    r.error.message,
    r.error.details === undefined ? undefined : { details: r.error.details },
  );
}

/** The wallet a did:ethr controls at creation (its address, or the address of its public key); undefined otherwise. */
export function walletOfDid(did: string): string | undefined {
  return ethrAddress(did)?.toLowerCase();
}

/** The AccreditedInvestor credential of a verified access token, as the offering domain reads it. */
export function investorCredentialOf(grant: AccessGrant): VerifiedInvestorCredential | undefined {
  const vc = grant.credentials.find((c) => c.types.includes('AccreditedInvestorCredential'));
  if (!vc) return undefined;
  const revocation = vc.status.find((s) => s.statusPurpose === 'revocation');
  return {
    ...(revocation ? { id: credentialKey(revocation.statusListCredential, revocation.statusListIndex) } : {}),
    issuer: vc.issuer,
    subject: grant.holder,
    types: vc.types,
    claims: vc.claims,
    ...(vc.expiresAt === undefined ? {} : { expiresAt: vc.expiresAt }),
  };
}

/** The verified credential of `type` in an access grant (types and claims), if the holder presented one. */
const credentialOf = (grant: AccessGrant, type: string) => grant.credentials.find((c) => c.types.includes(type));

function grantOf(req: Request): AccessGrant {
  // requireCredentials ran before every handler that calls this; absent would be a wiring bug.
  if (!req.accessGrant) throw new TesseraError('ERR_AUTH_REQUIRED', 'this route needs an access token');
  return req.accessGrant;
}

const restrictionNames = Object.fromEntries(Object.entries(TransferRestriction).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/**
 * The token-offering HTTP API (express 5 Router, no listen; the stack mounts it at `/services/offerings`):
 *
 * - `GET /` offerings; `GET /:offeringId` one offering (with `certified`)
 * - `POST /` create (OfferingIssuerCredential holder = the issuer organisation); the offering's token is deployed with it
 * - `POST /:offeringId/certification` `{ credential }` a certification credential signed by the certifier, who presents
 *   a trusted CertifierCredential
 * - `POST /:offeringId/subscriptions` `{ quantity }` (AccreditedInvestorCredential; claims from the verified token)
 * - `GET /me/subscriptions` the holder's subscriptions (AccreditedInvestorCredential)
 * - `POST /:offeringId/allocation` close, allocate and mint through the outbox (the offering's issuer)
 * - `GET /:offeringId/holdings` holders of record; `GET /:offeringId/transfer-check` ERC-1404 pre-flight
 * - `POST /:offeringId/transfers` `{ authorization, signature }` relay a transfer the holder signed (EIP-3009)
 * - `GET /:offeringId/coupons` the schedule; `POST /:offeringId/coupons/:coupon/record` (the issuer) the holders of
 *   record and what each is owed; `GET /:offeringId/coupons/:coupon/payments`
 * - `POST /:offeringId/redemption` (the issuer, at maturity) pause, record principal owed, burn; `GET` the records
 * - `GET /openapi.json`
 *
 * Every refusal is `{ error: { code, message } }` with the status protocol's registry gives the code.
 */
export function buildOfferingsRouter(deps: OfferingsRouterDeps): Router {
  const { service, store } = deps;
  const log = deps.log ?? silentLogger;
  const guard = (resource: string, action: string) => deps.requireCredentials({ resource, action });

  const view = (o: Offering) => ({ ...o, certified: service.isCertified(o) });
  const offeringParam = (req: Request) => parse(OfferingIdParam, req.params.offeringId, 'path');
  const mustGet = async (id: string) => unwrap(await service.get(id));
  /** The offering, when the request's holder is its issuer organisation. */
  async function asIssuer(req: Request, what: string): Promise<Offering> {
    const offering = await mustGet(offeringParam(req));
    if (normaliseDid(grantOf(req).holder) !== offering.issuer) {
      throw new TesseraError('ERR_FORBIDDEN', `only the issuer of ${offering.id} ${what}`);
    }
    return offering;
  }

  /** The offering's token, deploying it if an earlier attempt failed. */
  async function ensureToken(o: Offering): Promise<Offering> {
    if (o.tokenAddress) return o;
    const address = await deps.deployToken(o);
    return unwrap(await service.attachToken(o.id, address));
  }

  const router = express.Router();
  router.use(jsonBody());
  const api = new HttpApi({
    title: 'Tessera token offerings',
    description:
      'Security-token offerings (for example green bonds) that only verified investors may buy and hold: offerings ' +
      'created by an issuer organisation, certified by a certifier, subscribed with an AccreditedInvestor credential, ' +
      'allocated at close and minted on a permissioned token whose transfers check both parties on chain.',
    bearerDescription: 'JWT (RFC 9068 at+jwt) access token from the verifier',
  });
  const route = (spec: (typeof ROUTES)[keyof typeof ROUTES], ...handlers: RequestHandler[]) =>
    api.route(router, spec as ApiRoute, ...(handlers.slice(0, -1) as RequestHandler[]), (_input, req, res) =>
      (handlers.at(-1) as (req: Request, res: Response) => unknown)(req, res),
    );
  const document = (serverUrl: string) => api.openapi(serverUrl);

  router.get('/openapi.json', (_req, res) => {
    res.json(document(deps.publicUrl ?? '/services/offerings'));
  });

  route(ROUTES.list, async (_req, res) => {
    const rows = await store.offerings().find({ order: { createdAt: 'ASC', id: 'ASC' } });
    const items: ReturnType<typeof view>[] = [];
    for (const row of rows) items.push(view(await mustGet(row.id)));
    res.json({ items });
  });

  route(ROUTES.create, guard(OFFERING_RESOURCES.create, 'POST'), async (req, res) => {
    const { terms } = bodyOf(CreateBody, req);
    const grant = grantOf(req);
    const issuer = normaliseDid(grant.holder);
    const parsed = unwrap(parseTerms(terms));
    // the policy checked the credential's issuer against the trust list; its claims may narrow the kinds allowed
    unwrap(checkOfferingIssuer(credentialOf(grant, 'OfferingIssuerCredential'), parsed.kind));
    let offering = unwrap(await service.createOffering(issuer, terms));
    try {
      offering = await ensureToken(offering);
    } catch (e) {
      // The offering stands; allocation deploys the token if it is still missing.
      log.warn({ err: e, offering: offering.id }, 'token deployment failed; retried at allocation');
    }
    res
      .status(201)
      .location(`${deps.publicUrl ?? req.baseUrl}/${offering.id}`)
      .json(view(offering));
  });

  route(ROUTES.mine, guard(OFFERING_RESOURCES.mySubscriptions, 'GET'), async (req, res) => {
    const investor = normaliseDid(grantOf(req).holder);
    const items = await store.subscriptions().find({ where: { investor }, order: { createdAt: 'ASC', id: 'ASC' } });
    res.json({ items });
  });

  route(ROUTES.one, async (req, res) => {
    res.json(view(await mustGet(offeringParam(req))));
  });

  route(ROUTES.certify, guard(OFFERING_RESOURCES.certify, 'POST'), async (req, res) => {
    const id = offeringParam(req);
    const { credential } = bodyOf(CertifyBody, req);
    const offering = await mustGet(id);
    const bad = (m: string) => new TesseraError('ERR_OFFERING_CERTIFICATION_INVALID', m);
    // The one credential check, with the certifier who presented the CertifierCredential as the only accepted
    // issuer: its signature against the certifier's DID document as it is on chain now, nbf and exp, and the status
    // when the certification carries one (a certifier need not run a status list).
    const grant = grantOf(req);
    const checked = await deps.verifyCredential(credential, {
      issuer: grant.holder,
      requireStatus: false,
      anySubject: true,
    });
    if (!checked.ok && checked.error.code === 'ERR_VC_UNTRUSTED_ISSUER') {
      // signed by somebody else than the certifier presenting it
      throw new TesseraError('ERR_OFFERING_CERTIFIER_NOT_TRUSTED', checked.error.message);
    }
    if (!checked.ok) {
      throw bad(`the certification credential does not verify (${checked.error.code}): ${checked.error.message}`);
    }
    const vc = checked.value;
    if (!vc.types.includes(OFFERING_CERTIFICATION_CREDENTIAL)) {
      throw bad(`the credential is not an ${OFFERING_CERTIFICATION_CREDENTIAL}`);
    }
    const docs = vc.claims.documentsSha256;
    const certification: Certification = {
      certifier: normaliseDid(vc.issuer),
      credentialId: vc.id ?? createHash('sha256').update(credential).digest('hex'),
      subject: vc.subject,
      ...(typeof vc.claims.scheme === 'string' ? { scheme: vc.claims.scheme.slice(0, 200) } : {}),
      ...(Array.isArray(docs) && docs.every((d) => typeof d === 'string') ? { documentsSha256: docs as string[] } : {}),
      ...(vc.expiresAt !== undefined ? { expiresAt: vc.expiresAt } : {}),
    };
    if (certification.subject !== offeringUrn(offering.id)) {
      throw bad(`the certification is about ${certification.subject || 'nothing'}, not ${offeringUrn(offering.id)}`);
    }
    // the certifier is the holder of a CertifierCredential the trust list trusts (the policy), and signed this
    const certifierVc = credentialOf(grant, 'CertifierCredential');
    unwrap(checkCertifier(certifierVc, grant.holder, certification));
    // revoking or suspending the certifier's credential later withdraws the badge (revocations.ts)
    const revocation = certifierVc?.status.find((s) => s.statusPurpose === 'revocation');
    if (revocation) {
      certification.certifierCredentialId = credentialKey(revocation.statusListCredential, revocation.statusListIndex);
    }
    res.json(view(unwrap(await service.certify(id, certification))));
  });

  route(ROUTES.subscribe, guard(OFFERING_RESOURCES.subscribe, 'POST'), async (req, res) => {
    const offeringId = offeringParam(req);
    const { quantity, wallet } = bodyOf(SubscribeBody, req);
    const grant = grantOf(req);
    const own = walletOfDid(grant.holder);
    if (!own) {
      throw new TesseraError(
        'ERR_OFFERING_WALLET_NOT_HOLDER',
        'the holder is not a did:ethr, so it has no wallet here',
      );
    }
    if (wallet !== undefined && wallet.toLowerCase() !== own) {
      throw new TesseraError(
        'ERR_OFFERING_WALLET_NOT_HOLDER',
        `tokens go to the holder's own wallet ${own}, not to ${wallet.toLowerCase()}`,
      );
    }
    const sub = unwrap(
      await service.subscribe({ offeringId, wallet: own, quantity, credential: investorCredentialOf(grant) }),
    );
    res.status(201).json(sub);
  });

  route(ROUTES.allocate, guard(OFFERING_RESOURCES.allocate, 'POST'), async (req, res) => {
    let offering = await asIssuer(req, 'allocates it');
    const id = offering.id;
    const allocations = unwrap(await service.allocate(id));
    offering = await ensureToken(offering);
    const mint = unwrap(await service.mintAllocations(id));
    res.json({ offering: view(await mustGet(id)), allocations, mint });
  });

  route(ROUTES.holdings, async (req, res) => {
    const holdings = unwrap(await service.holdings(offeringParam(req)));
    // Wallets and balances are public on chain; which identity holds a wallet is not.
    res.json({ items: holdings.map(({ wallet, balance }) => ({ wallet, balance })) });
  });

  route(ROUTES.coupons, async (req, res) => {
    res.json({ items: unwrap(await deps.payments.schedule(offeringParam(req))) });
  });

  route(ROUTES.recordCoupon, guard(OFFERING_RESOURCES.recordCoupon, 'POST'), async (req, res) => {
    const offering = await asIssuer(req, 'records its coupons');
    const n = parse(CouponParam, req.params.coupon, 'path');
    res.json(unwrap(await deps.payments.recordCoupon(offering.id, n)));
  });

  route(ROUTES.couponPayments, async (req, res) => {
    const id = offeringParam(req);
    const n = parse(CouponParam, req.params.coupon, 'path');
    const coupon = unwrap(await deps.payments.schedule(id)).find((c) => c.number === n);
    if (!coupon) throw new TesseraError('ERR_OFFERING_COUPON_UNKNOWN', `offering ${id} has no coupon ${n}`);
    res.json({ coupon, items: await deps.payments.couponPayments(id, n) });
  });

  route(ROUTES.redeem, guard(OFFERING_RESOURCES.redeem, 'POST'), async (req, res) => {
    const offering = await asIssuer(req, 'redeems it');
    const report = unwrap(await deps.payments.redeem(offering.id));
    res.json({ offering: view(await mustGet(offering.id)), ...report });
  });

  route(ROUTES.redemption, async (req, res) => {
    await mustGet(offeringParam(req));
    res.json({ items: await deps.payments.redemptionPayments(offeringParam(req)) });
  });

  // No access token: the holder's signature over the transfer is the authorisation (EIP-3009), and the token checks
  // both parties' eligibility; the relayer sends only what the token's own check accepts.
  route(ROUTES.transfer, async (req, res) => {
    const id = offeringParam(req);
    const { authorization, signature } = bodyOf(TransferBody, req);
    const r = unwrap(await service.relayTransfer(id, authorization, signature));
    log.info({ offering: id, from: r.from, to: r.to, value: r.value, txHash: r.txHash }, 'transfer relayed');
    res.json(r);
  });

  route(ROUTES.transferCheck, async (req, res) => {
    const offering = await mustGet(offeringParam(req));
    const q = parse(TransferCheckQuery, { ...req.query }, 'query');
    if (!offering.tokenAddress)
      throw new TesseraError('ERR_OFFERING_STATE', `offering ${offering.id} has no token yet`);
    const token = SecurityToken__factory.connect(offering.tokenAddress, deps.provider);
    const code = Number(await token.detectTransferRestriction(q.from, q.to, BigInt(q.amount)));
    res.json({
      allowed: code === 0,
      code,
      name: restrictionNames[code] ?? 'UNKNOWN',
      message: await token.messageForTransferRestriction(code),
      ...(code === 0 ? {} : { revertsWith: RESTRICTION_ERROR[code] ?? null }),
    });
  });

  router.use(errorHandler(log, 'offerings'));
  return attachOpenApi(router, document);
}
