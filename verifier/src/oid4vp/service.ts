import { createHash, type JsonWebKey } from 'node:crypto';
import {
  DID_CLIENT_ID_PREFIX,
  err,
  type Logger,
  OID4VP_REQUEST_TYP,
  ok,
  type Requirement,
  type Result,
  requirementTypes,
  silentLogger,
  vctOf,
} from '@tessera/protocol';
import { decryptJwe, generateEncryptionKey, JWE_ENCS, randomBase64url } from '@tessera/runtime';
import { DcqlQuery } from 'dcql';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import type { IssuedToken, Verifier } from '../core.js';
import { ALLOWED_JWT_ALGS, signJwt } from '../vc/jwt.js';
import { normaliseDid } from '../vc/trust.js';
import type { VerifiedCredential } from '../vc/verify.js';
import { verifySdJwtPresentation } from './sd-jwt.js';

export const RESPONSE_MODES = ['direct_post', 'direct_post.jwt'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];
/** OpenID4VP 1.0 §5.10.1: the audience of a request object fetched from `request_uri` by a wallet we do not know. */
const SELF_ISSUED_AUDIENCE = 'https://self-issued.me/v2';
/** Most transaction data items one request carries, and the most bytes of each. */
const MAX_TRANSACTION_DATA = 4;
const MAX_TRANSACTION_DATA_BYTES = 2048;

/** What a relying party asks for: the resource and action the policy decides, how the wallet answers, and what to bind. */
export interface Oid4vpRequestInput {
  resource: string;
  action: string;
  responseMode?: ResponseMode;
  /** `same-device`: the response answers with a redirect_uri; `cross-device`: the initiator polls the result. */
  flow?: 'same-device' | 'cross-device';
  /** OpenID4VP 1.0 §5.1 `transaction_data`: objects with a `type` (e.g. an order), bound by the holder's KB-JWT. */
  transactionData?: Record<string, unknown>[];
}

/** The signed request, by reference, and how the initiator collects the outcome. */
export interface Oid4vpRequestCreated {
  id: string;
  client_id: string;
  request_uri: string;
  /** `openid4vp://?client_id=…&request_uri=…` for a wallet on this device, or as a QR code for one on another. */
  authorization_request: string;
  response_mode: ResponseMode;
  /** Where the initiator collects the access token (GET, with `response_code` = `transaction_secret`). */
  result_uri: string;
  transaction_secret: string;
  expires_at: number;
  dcql_query: ReturnType<typeof dcqlFor>;
}

interface RequestState {
  id: string;
  state: string;
  nonce: string;
  responseMode: ResponseMode;
  flow: 'same-device' | 'cross-device';
  dcql: ReturnType<typeof dcqlFor>;
  /** The ephemeral ECDH-ES private key for `direct_post.jwt`. */
  encryptionKey?: JsonWebKey;
  /** base64url(SHA-256) of each transaction data item, by the query ids it applies to. */
  transactionData?: { hash: string; credentialIds: string[] }[];
  secretHash: string;
}

const sha256b64 = (s: string) => createHash('sha256').update(s).digest('base64url');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A DCQL query (OpenID4VP 1.0 §6) for the policy's requirements: for each requirement one credential set whose
 * options are the two formats (a JWT VC by type, or an SD-JWT VC by vct), each asking for exactly the claims the
 * policy's constraints read, with their allowed values where the policy fixes them. The policy still decides.
 */
export function dcqlFor(requirements: readonly Requirement[]) {
  const credentials: Record<string, unknown>[] = [];
  const credentialSets: { options: string[][]; required: boolean }[] = [];
  requirements.forEach((r, i) => {
    const types = requirementTypes(r);
    const claims = (prefix: string[]) =>
      r.claims.map((c, j) => ({
        id: `c${j}`,
        path: [...prefix, ...c.claim.split('.')],
        ...('equals' in c ? { values: [c.equals] } : 'oneOf' in c ? { values: [...c.oneOf] } : {}),
      }));
    const jwtId = `req${i}_jwt`;
    const sdId = `req${i}_sd`;
    credentials.push({
      id: jwtId,
      format: 'jwt_vc_json',
      meta: { type_values: types.map((t) => ['VerifiableCredential', t]) },
      ...(r.claims.length > 0 ? { claims: claims(['credentialSubject']) } : {}),
    });
    credentials.push({
      id: sdId,
      format: 'dc+sd-jwt',
      meta: { vct_values: types.map((t) => vctOf(t as never)) },
      ...(r.claims.length > 0 ? { claims: claims([]) } : {}),
    });
    credentialSets.push({ options: [[jwtId], [sdId]], required: true });
  });
  return { credentials, credential_sets: credentialSets };
}

export interface Oid4vpService {
  /** Create a signed request for `action` on `resource` (deny by default: no policy, no request). */
  createRequest(input: Oid4vpRequestInput): Promise<Result<Oid4vpRequestCreated>>;
  /** The request object JWT for `request_uri` (single fetch). */
  requestObject(id: string): Promise<Result<string>>;
  /**
   * Handle an authorization response posted to the request's `response_uri`: decrypt (direct_post.jwt), match the
   * `vp_token` to the DCQL query, verify every presentation, decide by policy and issue the access token.
   */
  respond(id: string, body: Record<string, string>): Promise<Result<{ token: IssuedToken; redirectUri?: string }>>;
  /** The outcome for the initiator, once: the token, or undefined while the wallet has not answered. */
  result(id: string, responseCode: string): Promise<Result<IssuedToken> | undefined>;
}

/**
 * OpenID4VP 1.0 on the credential core: signed request objects (JAR, RFC 9101) fetched by `request_uri`, client id
 * `decentralized_identifier:<verifier DID>` signed by the verifier's did:ethr key, DCQL from the policy, response modes
 * `direct_post` and `direct_post.jwt` (ECDH-ES), `vp_token` keyed by query id, `transaction_data`, and the same policy
 * decision and access token as `present`/`exchange`. All state is in the core's nonce store (Redis across replicas).
 */
export function createOid4vpService(
  core: Pick<Verifier, 'did' | 'request' | 'decide' | 'grant' | 'nonces' | 'checks'>,
  o: {
    privateKey: string;
    publicUrl: string;
    requestTtlMs?: number;
    /** Each token granted, before it is handed out (a throw refuses the response with ERR_UNAVAILABLE). */
    onGranted?: (issued: IssuedToken) => Promise<void>;
    log?: Logger;
  },
): Oid4vpService {
  const log = o.log ?? silentLogger;
  const clientId = `${DID_CLIENT_ID_PREFIX}${core.did}`;
  const signer = ES256KSigner(hexToBytes(o.privateKey));
  const ttl = o.requestTtlMs ?? 5 * 60 * 1000;
  const base = o.publicUrl.replace(/\/+$/, '');
  const key = (kind: string, id: string) => `oid4vp:${kind}:${id}`;

  async function createRequest(input: Oid4vpRequestInput): Promise<Result<Oid4vpRequestCreated>> {
    const responseMode = input.responseMode ?? 'direct_post';
    if (!(RESPONSE_MODES as readonly string[]).includes(responseMode)) {
      return err('ERR_VALIDATION', `response_mode must be one of ${RESPONSE_MODES.join(', ')}`);
    }
    const req = await core.request(input.resource, input.action);
    if (!req.ok) return req;
    const dcql = dcqlFor(req.value.requirements);
    try {
      DcqlQuery.validate(DcqlQuery.parse(dcql as never));
    } catch (e) {
      log.error({ err: e }, 'the DCQL query generated from the policy is invalid');
      return err('ERR_INTERNAL', 'the DCQL query generated from the policy is invalid');
    }
    const id = randomBase64url(18);
    const state = randomBase64url(18);
    const secret = randomBase64url(24);
    const flow = input.flow ?? 'same-device';
    const sdIds = (dcql.credentials as { id: string; format: string }[])
      .filter((c) => c.format === 'dc+sd-jwt')
      .map((c) => c.id);
    let transactionData: string[] | undefined;
    let txState: RequestState['transactionData'];
    if (input.transactionData && input.transactionData.length > 0) {
      if (input.transactionData.length > MAX_TRANSACTION_DATA) {
        return err('ERR_VALIDATION', `at most ${MAX_TRANSACTION_DATA} transaction data items`);
      }
      transactionData = [];
      txState = [];
      for (const item of input.transactionData) {
        if (!isRecord(item) || typeof item.type !== 'string')
          return err('ERR_VALIDATION', 'transaction data items have a type');
        // OpenID4VP 1.0 §5.1: base64url JSON with the query ids it binds (SD-JWT VCs carry the hashes in their KB-JWT).
        const encoded = Buffer.from(JSON.stringify({ ...item, credential_ids: sdIds })).toString('base64url');
        if (encoded.length > MAX_TRANSACTION_DATA_BYTES)
          return err('ERR_VALIDATION', 'a transaction data item is too large');
        transactionData.push(encoded);
        txState.push({ hash: sha256b64(encoded), credentialIds: sdIds });
      }
    }
    const encryption = responseMode === 'direct_post.jwt' ? generateEncryptionKey(`${id}-enc`) : undefined;
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      aud: SELF_ISSUED_AUDIENCE,
      client_id: clientId,
      response_type: 'vp_token',
      response_mode: responseMode,
      response_uri: `${base}/oid4vp/response/${id}`,
      nonce: req.value.nonce,
      state,
      dcql_query: dcql,
      client_metadata: {
        client_name: 'Tessera verifier',
        vp_formats_supported: {
          jwt_vc_json: { alg_values: [...ALLOWED_JWT_ALGS] },
          'dc+sd-jwt': {
            'sd-jwt_alg_values': [...ALLOWED_JWT_ALGS],
            'kb-jwt_alg_values': [...ALLOWED_JWT_ALGS, 'ES256'],
          },
        },
        ...(encryption
          ? { jwks: { keys: [encryption.publicJwk] }, encrypted_response_enc_values_supported: [...JWE_ENCS] }
          : {}),
      },
      ...(transactionData ? { transaction_data: transactionData } : {}),
      // What the user is asked for, so a wallet can check it against what its user addressed (an extension
      // parameter: wallets that do not know it ignore it, OpenID4VP 1.0 §5.1).
      tessera_scope: { resource: req.value.resource, action: req.value.action },
      iat: now,
      exp: now + Math.floor(ttl / 1000),
    };
    const jwt = await signJwt(
      { alg: 'ES256K', typ: OID4VP_REQUEST_TYP, kid: `${core.did}#controller` },
      payload,
      signer,
    );
    const record: RequestState = {
      id,
      state,
      nonce: req.value.nonce,
      responseMode,
      flow,
      dcql,
      ...(encryption ? { encryptionKey: encryption.privateJwk } : {}),
      ...(txState ? { transactionData: txState } : {}),
      secretHash: sha256b64(secret),
    };
    await core.nonces.put(key('object', id), jwt, ttl);
    await core.nonces.put(key('state', id), JSON.stringify(record), ttl);
    const requestUri = `${base}/oid4vp/requests/${id}/object`;
    return ok({
      id,
      client_id: clientId,
      request_uri: requestUri,
      authorization_request: `openid4vp://?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}`,
      response_mode: responseMode,
      result_uri: `${base}/oid4vp/requests/${id}/result`,
      transaction_secret: secret,
      expires_at: now + Math.floor(ttl / 1000),
      dcql_query: dcql,
    });
  }

  async function requestObject(id: string): Promise<Result<string>> {
    const jwt = typeof id === 'string' && id.length <= 64 ? await core.nonces.consume(key('object', id)) : undefined;
    return jwt
      ? ok(jwt)
      : err('ERR_OID4VP_REQUEST_UNKNOWN', 'no open request with this id (fetched already, or expired)');
  }

  async function verifyResponse(rec: RequestState, body: Record<string, string>): Promise<Result<IssuedToken>> {
    let params: Record<string, unknown> = body;
    if (rec.responseMode === 'direct_post.jwt') {
      if (typeof body.response !== 'string') {
        return err('ERR_OID4VP_RESPONSE_MALFORMED', 'direct_post.jwt answers with one `response` parameter (a JWE)');
      }
      const opened = decryptJwe(body.response, rec.encryptionKey!);
      if (opened instanceof Error) return err('ERR_OID4VP_RESPONSE_MALFORMED', `the response JWE: ${opened.message}`);
      try {
        params = JSON.parse(opened.plaintext) as Record<string, unknown>;
      } catch {
        return err('ERR_OID4VP_RESPONSE_MALFORMED', 'the decrypted response is not JSON');
      }
      if (!isRecord(params)) return err('ERR_OID4VP_RESPONSE_MALFORMED', 'the decrypted response is not an object');
    }
    if (params.state !== rec.state)
      return err('ERR_OID4VP_RESPONSE_MALFORMED', 'the response state is not the request state');
    let vpToken: unknown = params.vp_token;
    if (typeof vpToken === 'string') {
      try {
        vpToken = JSON.parse(vpToken);
      } catch {
        return err('ERR_OID4VP_RESPONSE_MALFORMED', 'vp_token is not JSON');
      }
    }
    if (!isRecord(vpToken)) {
      return err(
        'ERR_OID4VP_RESPONSE_MALFORMED',
        'vp_token must be a JSON object keyed by credential query id (OpenID4VP 1.0 §8.1)',
      );
    }
    const queries = new Map(
      (rec.dcql.credentials as { id: string; format: string; meta: Record<string, string[][] | string[]> }[]).map(
        (c) => [c.id, c],
      ),
    );
    for (const id of Object.keys(vpToken)) {
      if (!queries.has(id))
        return err('ERR_OID4VP_QUERY_MISMATCH', `vp_token answers query ${id.slice(0, 40)}, which was not asked`);
    }
    for (const [i, set] of rec.dcql.credential_sets.entries()) {
      if (!set.options.some((opt) => opt.every((q) => vpToken[q] !== undefined))) {
        return err(
          'ERR_OID4VP_QUERY_MISMATCH',
          `requirement ${i} is not answered (one of ${set.options.flat().join(', ')})`,
        );
      }
    }
    const credentials: VerifiedCredential[] = [];
    let holder: string | undefined;
    const sameHolder = (h: string): Result<true> => {
      if (holder !== undefined && normaliseDid(holder) !== normaliseDid(h)) {
        return err('ERR_VC_SUBJECT_MISMATCH', 'the presentations come from different holders');
      }
      holder = h;
      return ok(true);
    };
    for (const [id, value] of Object.entries(vpToken)) {
      const q = queries.get(id)!;
      const list = Array.isArray(value) ? value : [value];
      if (list.length !== 1) return err('ERR_OID4VP_QUERY_MISMATCH', `query ${id} takes exactly one presentation`);
      const presentation = list[0];
      if (q.format === 'jwt_vc_json') {
        const vp = await core.checks.verifyPresentation(presentation, {
          expectedNonce: rec.nonce,
          audiences: [clientId],
        });
        if (!vp.ok) return err(vp.error.code, `${id}: ${vp.error.message}`, vp.error.details);
        const wanted = (q.meta.type_values as string[][]).map((t) => t[t.length - 1]!);
        if (!vp.value.credentials.some((c) => c.types.some((t) => wanted.includes(t)))) {
          return err('ERR_OID4VP_QUERY_MISMATCH', `${id}: the presentation carries no credential of the asked type`);
        }
        const same = sameHolder(vp.value.holder);
        if (!same.ok) return same;
        credentials.push(...vp.value.credentials);
      } else {
        const hashes = rec.transactionData?.filter((t) => t.credentialIds.includes(id)).map((t) => t.hash);
        const sd = await verifySdJwtPresentation(core.checks, presentation, {
          nonce: rec.nonce,
          audiences: [clientId],
          requireKeyBinding: true,
          ...(hashes && hashes.length > 0 ? { transactionDataHashes: hashes } : {}),
        });
        if (!sd.ok) return err(sd.error.code, `${id}: ${sd.error.message}`, sd.error.details);
        const wanted = (q.meta.vct_values as string[]) ?? [];
        if (!sd.value.credential.types.some((t) => wanted.includes(vctOf(t as never)))) {
          return err('ERR_OID4VP_QUERY_MISMATCH', `${id}: the credential is not of the asked type`);
        }
        const same = sameHolder(sd.value.holder);
        if (!same.ok) return same;
        credentials.push(sd.value.credential);
      }
    }
    // Spend the request's nonce once (every replica), and take its resource and action with it.
    const context = await core.nonces.consume(rec.nonce);
    if (context === undefined) return err('ERR_VP_NONCE', 'the nonce is unknown, expired or already used');
    const cut = context.indexOf('\n');
    if (cut < 0 || context.slice(0, cut) !== core.did)
      return err('ERR_VP_NONCE', 'the nonce was issued for another audience');
    const decided = await core.decide({
      holder: holder!,
      audience: core.did,
      nonce: rec.nonce,
      credentials,
      request: context.slice(cut + 1),
    });
    if (!decided.ok) return decided;
    return core.grant(decided.value);
  }

  async function respond(
    id: string,
    body: Record<string, string>,
  ): Promise<Result<{ token: IssuedToken; redirectUri?: string }>> {
    const raw = typeof id === 'string' && id.length <= 64 ? await core.nonces.consume(key('state', id)) : undefined;
    if (!raw) return err('ERR_OID4VP_REQUEST_UNKNOWN', 'no open request with this id (answered already, or expired)');
    const rec = JSON.parse(raw) as RequestState;
    let r = await verifyResponse(rec, body);
    if (r.ok && o.onGranted) {
      try {
        await o.onGranted(r.value);
      } catch (e) {
        log.error({ err: e }, 'a granted OpenID4VP sign-in could not be recorded');
        r = err('ERR_UNAVAILABLE', 'the sign-in could not be recorded; try again');
      }
    }
    // The outcome waits for the initiator (its transaction secret), and for a same-device redirect (its response code).
    const outcome = JSON.stringify(r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error });
    await core.nonces.put(key('result', `${id}:${rec.secretHash}`), outcome, ttl);
    if (!r.ok) return r;
    if (rec.flow === 'cross-device') return ok({ token: r.value });
    const code = randomBase64url(24);
    await core.nonces.put(key('result', `${id}:${sha256b64(code)}`), outcome, ttl);
    return ok({ token: r.value, redirectUri: `${base}/oid4vp/requests/${id}/result?response_code=${code}` });
  }

  async function result(id: string, responseCode: string): Promise<Result<IssuedToken> | undefined> {
    if (typeof id !== 'string' || id.length > 64 || typeof responseCode !== 'string' || responseCode.length > 128) {
      return err('ERR_OID4VP_REQUEST_UNKNOWN', 'no such request');
    }
    const raw = await core.nonces.consume(key('result', `${id}:${sha256b64(responseCode)}`));
    if (!raw) return undefined;
    return JSON.parse(raw) as Result<IssuedToken>;
  }

  return { createRequest, requestObject, respond, result };
}
