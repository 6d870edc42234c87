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

export interface IssuedCredential {
  id: string;
  type: string;
  subject: string;
  issuer: string;
  status: 'active' | 'suspended' | 'revoked';
  claims: Record<string, unknown>;
  jwt: string;
  issuedAt: string;
  expiresAt: string;
  expired: boolean;
  updatedAt: string;
}
export interface CredentialPage {
  items: IssuedCredential[];
  nextCursor?: string;
}
export interface TokenReply {
  accessToken: string;
  expiresAt: string;
  did: string;
  roles: string[];
}
export interface OfferReply {
  code: string;
  credentialId: string;
  expiresAt: string;
  txCode?: string;
  offer_uri: string;
  offer_uri_by_reference: string;
  credential_offer_uri: string;
  qr_svg: string;
}
export interface AuditEntry {
  seq: number;
  when: string;
  who: string;
  what: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}
export interface DeviceView {
  deviceId: string;
  state: string;
  manufacturer: string;
  owner: string | null;
  did: string | null;
  identity: string | null;
  batchId: number | null;
  fingerprint: string;
  characteristics: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}
export interface DeviceSession {
  deviceId: string;
  connected: boolean;
  lastHandshake: { at: string; outcome: string; code?: string } | null;
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
export interface CredentialTypeInfo {
  kind: string;
  defaultValiditySeconds: number;
  maxValiditySeconds: number;
  claims: { $ref: string };
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

const q = (o: Record<string, string | number | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** The endpoints the console uses. */
export const api = {
  info: () => call<{ chainId: number; issuer: string; version?: string }>('GET', '/console/api/info'),
  health: () => call<HealthReport>('GET', '/healthz'),
  metrics: () => call<string>('GET', '/metrics', { text: true }),
  challenge: () =>
    call<{ nonce: string; audience: string; expiresAt: string; requirements: unknown }>(
      'POST',
      '/issuer/auth/challenge',
    ),
  token: (presentation: string) => call<TokenReply>('POST', '/issuer/auth/token', { body: { presentation } }),
  renew: (token: string) =>
    call<{ access_token: string; expires_in: number }>('POST', '/verifier/tokens/renew', { token }),
  signOut: (token: string) => call<void>('POST', '/issuer/auth/logout', { token }),
  access: (token: string) => call<AccessReply>('GET', '/console/api/access', { token }),
  credentialTypes: () => call<Record<string, CredentialTypeInfo>>('GET', '/issuer/credential-types'),
  issuerSpec: () => call<JsonSchema>('GET', '/issuer/openapi.json'),
  listCredentials: (token: string, f: { type?: string; subject?: string; status?: string; cursor?: string }) =>
    call<CredentialPage>('GET', `/issuer/credentials${q({ ...f, limit: 50 })}`, { token }),
  issue: (token: string, body: { type: string; subject: string; claims: unknown; validitySeconds?: number }) =>
    call<IssuedCredential>('POST', '/issuer/credentials', { token, body }),
  credentialAction: (token: string, id: string, action: 'suspend' | 'resume' | 'revoke', reason?: string) =>
    call<{ credential: IssuedCredential; changed: boolean }>(
      'POST',
      `/issuer/credentials/${encodeURIComponent(id)}/${action}`,
      { token, body: reason ? { reason } : {} },
    ),
  offer: (token: string, id: string) =>
    call<OfferReply>('POST', `/issuer/credentials/${encodeURIComponent(id)}/offer`, { token, body: {} }),
  fetchOffer: (url: string) => call<Record<string, unknown>>('GET', url),
  redeem: (code: string, proof: string) =>
    call<{ id: string; type: string; credential: string }>('POST', '/issuer/offers/redeem', { body: { code, proof } }),
  verifyJwt: (jwt: string) =>
    call<{ verified: boolean; status?: unknown }>('POST', '/verifier/verify', { body: { jwt } }),
  audit: (token: string, afterSeq?: number, limit = 100) =>
    call<{ items: AuditEntry[] }>('GET', `/issuer/audit${q({ afterSeq, limit })}`, { token }),
  verifyAudit: (token: string) =>
    call<{ length: number; head: { seq: number; hash: string } }>('GET', '/issuer/audit/verify', { token }),
  registerBatch: (token: string, devices: { characteristics: Record<string, string> }[]) =>
    call<{ batchId: number; txHash: string; devices: { deviceId: string; provisioning: Record<string, unknown> }[] }>(
      'POST',
      '/issuer/devices/batches',
      { token, body: { devices } },
    ),
  device: (token: string, id: string) =>
    call<DeviceView>('GET', `/issuer/devices/${encodeURIComponent(id)}`, { token }),
  deviceAction: (token: string, id: string, action: 'suspend' | 'resume' | 'revoke') =>
    call<DeviceView>('POST', `/issuer/devices/${encodeURIComponent(id)}/${action}`, { token, body: {} }),
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
