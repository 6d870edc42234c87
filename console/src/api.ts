import createClient from 'openapi-fetch';
import type { paths } from './generated/stack-api';

/**
 * A small typed client of the stack's HTTP API (same origin). Every refusal comes back as the API's own
 * `{ code, message }`, so the console shows exactly what the API said; the console is only a client.
 */

export interface ApiError {
  code: string;
  message: string;
  status: number;
}
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/** What an endpoint of `api` answers with: the type the stack's OpenAPI document gives its answer. */
export type ValueOf<F extends (...args: never[]) => Promise<ApiResult<unknown>>> = Extract<
  Awaited<ReturnType<F>>,
  { ok: true }
>['value'];

// The answers the pages hold, named: each one is the OpenAPI document's, through the endpoint that returns it.
export type IssuedCredential = ValueOf<typeof api.issue>;
export type CredentialPage = ValueOf<typeof api.listCredentials>;
export type TokenReply = ValueOf<typeof api.token>;
export type OfferReply = ValueOf<typeof api.offer>;
export type AuditEntry = ValueOf<typeof api.audit>['items'][number];
export type DeviceView = ValueOf<typeof api.device>;
export type EnergyPeriod = ValueOf<typeof api.energyPeriod>;
export type EnergyBills = ValueOf<typeof api.energyBills>;
export type EnergyBill = EnergyBills['periods'][number];
export type Offering = ValueOf<typeof api.offering>;
export type Partner = ValueOf<typeof api.registerPartner>;
export type ExchangeMessage = ValueOf<typeof api.sendMessage>;
export type ExchangeProcess = ValueOf<typeof api.processes>['processes'][number];
export type ExchangeConsent = ValueOf<typeof api.consents>['consents'][number];
export type HostedKeyOffer = ValueOf<typeof api.hostedKeyOffer>;
export type CrossDeviceRequest = ValueOf<typeof api.crossDeviceRequest>;
export type CredentialTypeInfo = NonNullable<
  ValueOf<typeof api.credentialTypes>[keyof ValueOf<typeof api.credentialTypes>]
>;

// The console's own routes (`/console/api/*`) and /healthz are outside the document: their answers are typed here.
export interface DeviceSession {
  deviceId: string;
  connected: boolean;
  lastHandshake: { at: string; outcome: string; code?: string } | null;
}
export interface WalletAccessReply {
  /** Service capability → whether the policy lets these credentials use it. */
  allowed: Record<string, boolean>;
  /** The meters whose bills the credentials open. */
  meters: string[];
}
export interface HealthReport {
  ok: boolean;
  parts: Record<string, { ok: boolean } & Record<string, unknown>>;
}
export interface AccessReply {
  did: string;
  expiresAt: number;
  /** Console capability → whether the policy lets this session use it. */
  allowed: Record<string, boolean>;
}
// biome-ignore lint/suspicious/noExplicitAny: JSON Schema documents are open-ended
export type JsonSchema = Record<string, any>;

export async function call<T>(
  method: string,
  path: string,
  o: { token?: string; body?: unknown; form?: Record<string, string>; text?: boolean } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body ? { body } : {}),
    });
  } catch (e) {
    return {
      ok: false,
      error: { code: 'ERR_UNAVAILABLE', message: `the stack did not answer: ${String(e)}`, status: 0 },
    };
  }
  const text = await res.text();
  if (o.text && res.ok) return { ok: true, value: text as T };
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.ok) return { ok: true, value: json as T };
  const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    ok: false,
    error: {
      code: typeof e?.code === 'string' ? e.code : 'ERR_UNAVAILABLE',
      message: typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
      status: res.status,
    },
  };
}

const client = createClient<paths>({ baseUrl: '' });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An openapi-fetch answer as the console's result: the value, or the API's `{ code, message }` and status. */
async function typed<D>(p: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<ApiResult<D>> {
  let r: Awaited<typeof p>;
  try {
    r = await p;
  } catch (e) {
    return {
      ok: false,
      error: { code: 'ERR_UNAVAILABLE', message: `the stack did not answer: ${String(e)}`, status: 0 },
    };
  }
  if (r.response.ok) return { ok: true, value: r.data as D };
  const e = (r.error as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    ok: false,
    error: {
      code: typeof e?.code === 'string' ? e.code : 'ERR_UNAVAILABLE',
      message: typeof e?.message === 'string' ? e.message : `HTTP ${r.response.status}`,
      status: r.response.status,
    },
  };
}

/**
 * The endpoints the console uses. The stack's parts go through openapi-fetch, typed by the stack's OpenAPI document
 * (console/src/generated/stack-api.ts, `npm run gen:console-api`): paths, parameters and bodies are checked against
 * it. `/healthz`, `/metrics` and the console's own `/console/api/*` are outside the document and use `call`.
 */
export const api = {
  info: () => call<{ chainId: number; issuer: string; energyPeriodSeconds?: number }>('GET', '/console/api/info'),
  health: () => call<HealthReport>('GET', '/healthz'),
  metrics: () => call<string>('GET', '/metrics', { text: true }),
  challenge: () => typed(client.POST('/issuer/auth/challenge', {})),
  token: (presentation: string) => typed(client.POST('/issuer/auth/token', { body: { presentation } })),
  renew: (token: string) => typed(client.POST('/verifier/tokens/renew', { headers: bearer(token) })),
  signOut: (token: string) => typed(client.POST('/issuer/auth/logout', { headers: bearer(token) })),
  access: (token: string) => call<AccessReply>('GET', '/console/api/access', { token }),
  credentialTypes: () => typed(client.GET('/issuer/credential-types')),
  /** The stack's OpenAPI document: the claim schemas the issue form is generated from. */
  spec: () => call<JsonSchema>('GET', '/openapi.json'),
  listCredentials: (token: string, f: { type?: string; subject?: string; status?: string; cursor?: string }) =>
    typed(
      client.GET('/issuer/credentials', {
        headers: bearer(token),
        params: {
          query: {
            limit: 50,
            ...(f.type ? { type: f.type } : {}),
            ...(f.subject ? { subject: f.subject } : {}),
            ...(f.status ? { status: f.status as 'active' } : {}),
            ...(f.cursor ? { cursor: f.cursor } : {}),
          },
        },
      }),
    ),
  issue: (token: string, body: { type: string; subject: string; claims: unknown; validitySeconds?: number }) =>
    typed(client.POST('/issuer/credentials', { headers: bearer(token), body: body as never })),
  credentialAction: (token: string, id: string, action: 'suspend' | 'resume' | 'revoke', reason?: string) =>
    typed(
      client.POST(`/issuer/credentials/{id}/${action}`, {
        headers: bearer(token),
        params: { path: { id } },
        body: reason ? { reason } : {},
      }),
    ),
  offer: (token: string, id: string) =>
    typed(
      client.POST('/issuer/credentials/{id}/offer', { headers: bearer(token), params: { path: { id } }, body: {} }),
    ),
  fetchOffer: (url: string) => call<Record<string, unknown>>('GET', url),
  redeem: (code: string, proof: string) => typed(client.POST('/issuer/offers/redeem', { body: { code, proof } })),
  verifyJwt: (jwt: string) => typed(client.POST('/verifier/verify', { body: { jwt } })),
  audit: (token: string, afterSeq?: number, limit = 100) =>
    typed(
      client.GET('/issuer/audit', {
        headers: bearer(token),
        params: { query: { limit, ...(afterSeq === undefined ? {} : { afterSeq }) } },
      }),
    ),
  verifyAudit: (token: string) => typed(client.GET('/issuer/audit/verify', { headers: bearer(token) })),
  registerBatch: (token: string, devices: { characteristics: Record<string, string> }[]) =>
    typed(client.POST('/issuer/devices/batches', { headers: bearer(token), body: { devices } as never })),
  devices: (token: string, offset = 0, limit = 50) =>
    typed(client.GET('/issuer/devices', { headers: bearer(token), params: { query: { limit, offset } } })),
  device: (token: string, id: string) =>
    typed(client.GET('/issuer/devices/{id}', { headers: bearer(token), params: { path: { id } } })),
  deviceAction: (token: string, id: string, action: 'suspend' | 'resume' | 'revoke') =>
    typed(client.POST(`/issuer/devices/{id}/${action}`, { headers: bearer(token), params: { path: { id } } })),
  commission: (token: string, id: string, identity: string) =>
    typed(
      client.POST('/issuer/devices/{id}/commission', {
        headers: bearer(token),
        params: { path: { id } },
        body: { identity } as never,
      }),
    ),
  decommission: (token: string, id: string) =>
    typed(client.POST('/issuer/devices/{id}/decommission', { headers: bearer(token), params: { path: { id } } })),
  /** An OpenID4VP request for a wallet on another device (QR code and link); the initiator polls its result. */
  crossDeviceRequest: (resource: string, action: string) =>
    typed(
      client.POST('/verifier/oid4vp/requests', {
        body: { resource, action, flow: 'cross-device', response_mode: 'direct_post.jwt' },
      }),
    ),
  /** The outcome of a cross-device request: the access token once (200), `pending` (202) while unanswered. */
  crossDeviceResult: (id: string, secret: string) =>
    call<{ status: 'pending' } | { access_token: string; expires_in: number; holder: string }>(
      'GET',
      `/verifier/oid4vp/requests/${encodeURIComponent(id)}/result?response_code=${encodeURIComponent(secret)}`,
    ),
  /** A presentation request of the verifier for one resource and action (a nonce, and what the policy needs). */
  presentationRequest: (resource: string, action: string) =>
    typed(client.POST('/verifier/presentation-requests', { body: { resource, action } })),
  present: (vp: string) => typed(client.POST('/verifier/presentations', { body: { vp } as never })),
  energyPeriod: (periodId: number) =>
    typed(
      client.GET('/services/energy/energy/periods/{periodId}', { params: { path: { periodId: String(periodId) } } }),
    ),
  energyBills: (token: string, meterId: string) =>
    typed(
      client.GET('/services/energy/energy/meters/{meterId}/bills', {
        headers: bearer(token),
        params: { path: { meterId } },
      }),
    ),
  offerings: () => typed(client.GET('/services/offerings')),
  offering: (id: string) =>
    typed(client.GET('/services/offerings/{offeringId}', { params: { path: { offeringId: id } } })),
  createOffering: (token: string, terms: unknown) =>
    typed(client.POST('/services/offerings', { headers: bearer(token), body: { terms } as never })),
  certifyOffering: (token: string, id: string, credential: string) =>
    typed(
      client.POST('/services/offerings/{offeringId}/certification', {
        headers: bearer(token),
        params: { path: { offeringId: id } },
        body: { credential } as never,
      }),
    ),
  subscribe: (token: string, id: string, body: Record<string, unknown>) =>
    typed(
      client.POST('/services/offerings/{offeringId}/subscriptions', {
        headers: bearer(token),
        params: { path: { offeringId: id } },
        body: body as never,
      }),
    ),
  allocate: (token: string, id: string) =>
    typed(
      client.POST('/services/offerings/{offeringId}/allocation', {
        headers: bearer(token),
        params: { path: { offeringId: id } },
      }),
    ),
  holdings: (id: string) =>
    typed(client.GET('/services/offerings/{offeringId}/holdings', { params: { path: { offeringId: id } } })),
  supplierQuestionnaire: (token: string) =>
    typed(client.GET('/services/exchange/questionnaires/supplier-onboarding', { headers: bearer(token) })),
  partners: (token: string) => typed(client.GET('/services/exchange/partners', { headers: bearer(token) })),
  registerPartner: (token: string, name: string) =>
    typed(client.POST('/services/exchange/partners', { headers: bearer(token), body: { name } as never })),
  messages: (token: string) => typed(client.GET('/services/exchange/messages', { headers: bearer(token) })),
  sendMessage: (token: string, jws: string) =>
    typed(client.POST('/services/exchange/messages', { headers: bearer(token), body: { jws } })),
  ackMessage: (token: string, id: string, jws: string) =>
    typed(
      client.POST('/services/exchange/messages/{id}/ack', {
        headers: bearer(token),
        params: { path: { id } },
        body: { jws },
      }),
    ),
  consents: (token: string) => typed(client.GET('/services/exchange/consents', { headers: bearer(token) })),
  processes: (token: string) => typed(client.GET('/services/exchange/processes', { headers: bearer(token) })),
  trail: (token: string) =>
    typed(client.GET('/services/exchange/trail', { headers: bearer(token), params: { query: { limit: 1000 } } })),
  /** A message signed with the key the stack holds for the caller (once the caller's DID authorised it on chain). */
  sendHosted: (token: string, to: string, body: Record<string, unknown>) =>
    typed(client.POST('/services/exchange/messages/hosted', { headers: bearer(token), body: { to, body } as never })),
  ackHosted: (token: string, id: string) =>
    typed(
      client.POST('/services/exchange/messages/{id}/ack/hosted', { headers: bearer(token), params: { path: { id } } }),
    ),
  hostedKeyOffer: (token: string) =>
    typed(client.POST('/services/exchange/partners/hosted-key', { headers: bearer(token) })),
  hostedKeyConfirm: (token: string, signature: string) =>
    typed(
      client.POST('/services/exchange/partners/hosted-key/confirm', {
        headers: bearer(token),
        body: { signature },
      }),
    ),
  /** Which actions of the services the policy grants these credentials (decided by the credential core, no nonce). */
  walletAccess: (credentials: string[]) =>
    call<WalletAccessReply>('POST', '/console/api/wallet-access', { body: { credentials } }),
  verifyTrail: (token: string) => typed(client.GET('/services/exchange/trail/verify', { headers: bearer(token) })),
  deviceSession: (token: string, id: string) =>
    call<DeviceSession>('GET', `/console/api/devices/${encodeURIComponent(id)}/session`, { token }),
};

/** Prometheus text → metric (with labels as written) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, i), v);
  }
  return out;
}
