import {
  CREDENTIAL_TYPE_NAMES,
  CREDENTIAL_TYPES,
  type CredentialType,
  DID_PATTERN,
  MAX_DEVICE_BATCH,
} from '@tessera/protocol';
import { HttpApi } from '@tessera/runtime/http';
import { z } from 'zod';
import { CommissionBody, DeviceInput } from '../devices/lifecycle.js';
import { PartyInput } from '../parties.js';

/**
 * The schemas of the issuer's HTTP API: the router validates with them (or hands the body to the domain, which
 * validates with the same schemas and answers its own codes), and the OpenAPI document is generated from them.
 */

export const newIssuerApi = () =>
  new HttpApi({
    title: 'Tessera issuer',
    description:
      'Issue, list, suspend, resume and revoke W3C Verifiable Credentials (JWT, VC Data Model 1.1) with W3C Bitstring ' +
      'Status Lists, register devices and drive their lifecycle, and read the hash-chained audit trail. Admins and ' +
      'operators authenticate by presenting their role credential over a server nonce (POST /auth/challenge, then ' +
      'POST /auth/token).',
    bearerDescription: 'An access token from POST /auth/token (or the verifier)',
  });

const claimsOf = (t: CredentialType) => CREDENTIAL_TYPES[t].claims.meta({ id: `${t}Claims` });

/** One request per credential type: its claims schema (protocol's, the one issuance checks) and its longest validity. */
const issueRequestOf = (t: CredentialType) =>
  z
    .strictObject({
      type: z.literal(t),
      subject: z
        .string()
        .max(512)
        .regex(new RegExp(DID_PATTERN))
        .meta({
          description: 'DID of the holder, without path, query or fragment',
          examples: ['did:ethr:0x7a69:0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'],
        }),
      claims: claimsOf(t),
      validitySeconds: z
        .number()
        .int()
        .min(1)
        .max(CREDENTIAL_TYPES[t].maxValiditySeconds)
        .optional()
        .meta({ description: `seconds; default ${CREDENTIAL_TYPES[t].defaultValiditySeconds}` }),
    })
    .meta({ id: `IssueRequest${t}` });

/** What `POST /credentials` takes: one variant per credential type, chosen by `type`. */
export const IssueRequest = z
  .discriminatedUnion(
    'type',
    CREDENTIAL_TYPE_NAMES.map(issueRequestOf) as unknown as [
      ReturnType<typeof issueRequestOf>,
      ...ReturnType<typeof issueRequestOf>[],
    ],
  )
  .meta({ id: 'IssueRequest' });

/** The envelope the route checks before issuance checks the type and its claims (ERR_VC_TYPE_UNKNOWN, …). */
export const IssueEnvelope = z.strictObject({
  type: z.string().max(64),
  subject: z.string().max(512),
  claims: z.unknown(),
  validitySeconds: z.number().int().optional(),
});

export const ReasonBody = z.strictObject({ reason: z.string().max(500).optional() }).meta({ id: 'StatusChangeBody' });
export const ListQuery = z.strictObject({
  type: z
    .string()
    .max(64)
    .optional()
    .meta({ description: `one of ${CREDENTIAL_TYPE_NAMES.join(', ')}` }),
  subject: z.string().max(512).optional(),
  status: z.enum(['active', 'suspended', 'revoked']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: 'default 50' }),
  cursor: z.string().max(400).optional(),
});
export const AuditQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'default 100' }),
});
export const PartiesQuery = z.strictObject({
  kind: z.string().optional().meta({ description: 'person or organisation' }),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  after: z.string().max(512).optional().meta({ description: 'last DID of the previous page' }),
});
export const TokenBody = z.strictObject({ presentation: z.string() }).meta({ id: 'AdminTokenRequest' });
export const OfferBody = z.strictObject({
  ttlSeconds: z.number().int().optional(),
  txCode: z.boolean().optional().meta({ description: 'ask for a transaction code sent by another channel' }),
});
export const RedeemBody = z.strictObject({
  code: z.string().max(200),
  proof: z.string().meta({
    description: 'JWT (ES256K, typ openid4vci-proof+jwt) of the subject, aud = issuer URL, nonce = code',
  }),
});

export const IdParam = z.object({ id: z.string() });
export const DidParam = z.object({ did: z.string() });
export const DeviceIdParam = z.object({
  id: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/)
    .meta({ description: 'device id (DeviceRegistry key)' }),
});
export const DeviceListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).optional().meta({ description: 'devices per page, 1 to 100 (50)' }),
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .optional()
    .meta({ description: 'how many to skip (the `next` of the previous page)' }),
});
export const StatusListParam = z.object({ id: z.string().meta({ description: 'status list number' }) });
export const StatusListPurposeParam = z.object({
  id: z.string().meta({ description: 'status list number' }),
  purpose: z.enum(['revocation', 'suspension']),
});

export const PartyInputDoc = PartyInput.meta({ id: 'PartyInput' });
export const DeviceBatchRequest = z
  .strictObject({ devices: z.array(DeviceInput).min(1).max(MAX_DEVICE_BATCH) })
  .meta({ id: 'DeviceBatchRequest' });
export const DeviceCommission = CommissionBody.meta({ id: 'DeviceCommission' });

const iso = z.string().meta({ format: 'date-time' });
export const Credential = z
  .object({
    id: z.string(),
    type: z.enum(CREDENTIAL_TYPE_NAMES as unknown as [string, ...string[]]),
    subject: z.string(),
    issuer: z.string(),
    status: z.enum(['active', 'suspended', 'revoked']),
    claims: z.record(z.string(), z.unknown()),
    jwt: z.string(),
    issuedAt: iso,
    expiresAt: iso,
    expired: z.boolean().optional(),
    updatedAt: iso.optional(),
    statusList: z.number().int().optional(),
    statusIndex: z.number().int().optional(),
    credentialStatus: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .meta({ id: 'Credential' });
export const CredentialPage = z.object({ items: z.array(Credential), nextCursor: z.string().optional() });
export const StatusChange = z.object({ credential: Credential, changed: z.boolean() }).meta({ id: 'StatusChange' });
export const AuditEntry = z
  .object({
    seq: z.number().int(),
    when: iso,
    who: z.string(),
    what: z.string(),
    details: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });
export const Challenge = z.object({
  nonce: z.string(),
  audience: z.string(),
  expiresAt: iso,
  requirements: z.array(z.record(z.string(), z.unknown())),
});
export const AdminToken = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresAt: iso,
  did: z.string(),
  roles: z.array(z.string()),
});
export const Offer = z
  .object({
    code: z.string().meta({ description: 'the pre-authorized code; shown only here' }),
    credentialId: z.string(),
    expiresAt: iso,
    txCode: z.string().optional().meta({ description: 'the transaction code to hand over by another channel, if set' }),
    redeemUrl: z.string().meta({ description: 'the one-step redemption (POST /offers/redeem)' }),
    credential_offer: z
      .record(z.string(), z.unknown())
      .meta({ description: 'the OpenID4VCI credential offer object (credential_issuer, configuration ids, grants)' }),
    offer_uri: z.string().meta({ description: 'openid-credential-offer:// with the offer by value' }),
    offer_uri_by_reference: z.string().meta({ description: 'openid-credential-offer:// with credential_offer_uri' }),
    credential_offer_uri: z.string().meta({ description: 'where a wallet fetches the offer object' }),
    qr_svg: z.string().meta({ description: 'the by-reference URI as an SVG QR code' }),
  })
  .meta({
    id: 'CredentialOfferAnswer',
    description: 'The offer, with the OpenID4VCI credential offer by value, by reference and as a QR code',
  });
export const Redeemed = z.object({ id: z.string(), type: z.string(), credential: z.string() });
export const Device = z
  .object({
    deviceId: z.string(),
    state: z.enum(['Unknown', 'Registered', 'Active', 'Suspended', 'Revoked', 'Decommissioned']),
    manufacturer: z.string(),
    owner: z.string().nullable(),
    did: z.string().nullable(),
    identity: z.string().nullable(),
    batchId: z.number().int().nullable(),
    fingerprint: z.string(),
    commitment: z.string(),
    characteristics: z.record(z.string(), z.string()),
    createdAt: iso,
    updatedAt: iso,
  })
  .meta({ id: 'Device' });
export const DeviceBatch = z
  .object({
    batchId: z.number().int(),
    root: z.string(),
    txHash: z.string(),
    devices: z.array(
      z.object({
        deviceId: z.string(),
        batchId: z.number().int(),
        salt: z.string(),
        proof: z.array(z.string()),
        provisioning: z.record(z.string(), z.unknown()).meta({
          description:
            'device-agent provisioning file (its secret in clear): npm run device -- enrol --provisioning FILE',
        }),
      }),
    ),
  })
  .meta({ id: 'DeviceBatch' });
export const Party = z.record(z.string(), z.unknown()).meta({ description: 'A person or an organisation by its DID' });
export const opaque = (description: string) => ({ type: 'object', description });
export const CredentialTypeInfo = z
  .object({
    kind: z.enum(['device', 'role']),
    defaultValiditySeconds: z.number().int(),
    maxValiditySeconds: z.number().int(),
    claims: z.object({ $ref: z.string() }).meta({ description: 'the JSON Schema of its claims in this document' }),
  })
  .meta({ id: 'CredentialTypeInfo' });
export const CredentialTypes = z
  .record(z.enum(CREDENTIAL_TYPE_NAMES), CredentialTypeInfo)
  .meta({ description: 'Every credential type by name' });
export const AuditVerification = z
  .object({
    length: z.number().int().meta({ description: 'the entries checked' }),
    head: z.object({ seq: z.number().int(), hash: z.string() }).meta({ description: 'the last entry' }),
  })
  .meta({ id: 'AuditVerification' });

const OauthError = z
  .object({ error: z.string(), error_description: z.string().optional(), error_code: z.string().optional() })
  .meta({ id: 'OAuthError', description: "An OAuth 2.0 refusal (RFC 6749 §5.2) that also carries Tessera's code" });

/**
 * The OpenID4VCI 1.0 endpoints (oid4vci/routes.ts), documented here: their requests follow the OAuth and OpenID4VCI
 * wire formats, checked by the routes with OAuth-style refusals.
 */
export function documentOid4vci(api: HttpApi): void {
  const metadata = (path: string, summary: string) =>
    api.document({
      method: 'get',
      path,
      summary,
      responses: { 200: { description: 'Metadata', schema: opaque('metadata') } },
    });
  metadata(
    '/.well-known/openid-credential-issuer',
    'OpenID4VCI 1.0 credential issuer metadata (also at the origin: /.well-known/openid-credential-issuer/issuer)',
  );
  metadata(
    '/.well-known/oauth-authorization-server',
    'RFC 8414 authorization server metadata (the issuer is its own authorization server)',
  );
  api.document({
    method: 'get',
    path: '/oid4vci/offers/{ref}',
    summary: 'A credential offer by reference (OpenID4VCI 1.0 §4.1.3); public, until the code expires',
    params: z.object({ ref: z.string() }),
    responses: { 200: { description: 'The credential offer object', schema: opaque('credential offer') } },
    errors: ['ERR_NOT_FOUND'],
  });
  api.document({
    method: 'get',
    path: '/oid4vci/authorize',
    summary:
      'Authorization endpoint (RFC 6749 §4.1, PKCE S256): the caller signs in with a Tessera token for GET /oid4vci/authorize; redirects with code, state and iss',
    bearer: true,
    query: z.object({
      response_type: z.literal('code'),
      client_id: z.string(),
      redirect_uri: z.string(),
      code_challenge: z.string(),
      code_challenge_method: z.literal('S256'),
      state: z.string().optional(),
      authorization_details: z.string().optional(),
      scope: z.string().optional(),
    }),
    responses: { 302: { description: 'Redirect to redirect_uri' } },
    errors: ['ERR_BAD_REQUEST', 'ERR_AUTH_REQUIRED', 'ERR_POLICY_DENIED'],
  });
  api.document({
    method: 'post',
    path: '/oid4vci/token',
    summary:
      'Token endpoint (form): pre-authorized code (+ tx_code) or authorization code (+ code_verifier); a DPoP header binds the token',
    otherBody: {
      mediaType: 'application/x-www-form-urlencoded',
      schema: z.object({
        grant_type: z.enum(['urn:ietf:params:oauth:grant-type:pre-authorized_code', 'authorization_code']),
        'pre-authorized_code': z.string().optional(),
        tx_code: z.string().optional(),
        code: z.string().optional(),
        code_verifier: z.string().optional(),
        redirect_uri: z.string().optional(),
      }),
    },
    responses: {
      200: {
        description: 'access_token, token_type (DPoP or Bearer), expires_in',
        schema: opaque('token response'),
      },
      400: { description: 'An OAuth error with error_code', schema: OauthError },
    },
  });
  api.document({
    method: 'post',
    path: '/oid4vci/nonce',
    summary: 'Nonce endpoint (OpenID4VCI 1.0 §7): a single-use c_nonce for key proofs',
    responses: { 200: { description: 'The nonce', schema: z.object({ c_nonce: z.string() }) } },
  });
  api.document({
    method: 'post',
    path: '/oid4vci/credential',
    summary:
      'Credential endpoint (OpenID4VCI 1.0 §8): { credential_configuration_id, proofs: { jwt: [...] } } with a DPoP-bound or bearer token; batch',
    bearer: true,
    body: z.object({
      credential_configuration_id: z.string(),
      proofs: z.object({ jwt: z.array(z.string()).min(1) }),
    }),
    responses: {
      200: {
        description: 'The credentials',
        schema: z.object({ credentials: z.array(z.object({ credential: z.string() })) }),
      },
      400: {
        description: 'invalid_proof, invalid_nonce, invalid_credential_request (+ error_code)',
        schema: OauthError,
      },
      401: { description: 'invalid_token (+ error_code)', schema: OauthError },
    },
  });
}
