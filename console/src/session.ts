import { useEffect, useState } from 'preact/hooks';
import { api, type WalletAccessReply } from './api';
import { describeCredential, type HolderKey, jwtPayload, type SealedWallet, seal, signJwt, unseal } from './crypto';

/** The role credentials that sign in to the issuer's API (which of them opens what is the policy's decision). */
export const ROLE_TYPES = ['AdminCredential', 'OperatorCredential', 'ManufacturerCredential', 'DeviceOwnerCredential'];
const STORE_KEY = 'tessera.console.wallet';

export interface Session {
  token: string;
  did: string;
  roles: string[];
  /** ms since the epoch. */
  expiresAt: number;
  allowed: Record<string, boolean>;
}

export interface State {
  /** The sealed wallet in this browser (only the DID is readable without the passphrase). */
  sealed?: SealedWallet;
  /** The unlocked wallet, in memory only. */
  holder?: HolderKey;
  session?: Session;
  /**
   * What the policy lets the unlocked wallet's credentials do in the services (energy, offerings, data exchange),
   * decided by the credential core for the credentials as they are now; asked again when they change.
   */
  walletAccess?: WalletAccessReply;
  /** Why the last session ended, shown on the sign-in page (an expiry explains itself). */
  ended?: { code: string; message: string };
  busy?: string;
}

let state: State = { ...(loadSealed() ? { sealed: loadSealed()! } : {}) };
let passphraseForResave: string | undefined;
const listeners = new Set<() => void>();

function set(patch: Partial<State>, clear: (keyof State)[] = []) {
  const next = { ...state, ...patch };
  for (const k of clear) delete next[k];
  state = next;
  for (const l of listeners) l();
}

export function useSession(): State {
  const [, force] = useState(0);
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return state;
}
export const current = () => state;

function loadSealed(): SealedWallet | undefined {
  try {
    const raw = localStorage.getItem(STORE_KEY);
    return raw ? (JSON.parse(raw) as SealedWallet) : undefined;
  } catch {
    return undefined;
  }
}

/** Seal the wallet under the passphrase and keep it (only sealed) in this browser's storage. */
export async function keepWallet(holder: HolderKey, passphrase: string): Promise<void> {
  const sealed = await seal(holder, passphrase);
  localStorage.setItem(STORE_KEY, JSON.stringify(sealed));
  passphraseForResave = passphrase;
  set({ sealed, holder });
  void refreshWalletAccess();
}

export async function unlock(passphrase: string): Promise<boolean> {
  if (!state.sealed) return false;
  const holder = await unseal(state.sealed, passphrase);
  if (!holder) return false;
  passphraseForResave = passphrase;
  set({ holder });
  void refreshWalletAccess();
  return true;
}

/** Ask the stack what the wallet's credentials open in the services (no presentation, no nonce spent). */
export async function refreshWalletAccess(): Promise<void> {
  const holder = state.holder;
  if (!holder) return;
  const now = Date.now() / 1000;
  const live = holder.credentials.filter((jwt) => {
    const d = describeCredential(jwt);
    return d.types.length > 0 && (d.expiresAt === undefined || d.expiresAt > now);
  });
  const r = await api.walletAccess(live.slice(-32));
  if (state.holder !== holder) return; // the wallet changed meanwhile: its own question is on its way
  set({ walletAccess: r.ok ? r.value : { allowed: {}, meters: [] } });
}

/** Add a received credential to the unlocked wallet and seal it again. */
export async function addCredential(jwt: string): Promise<void> {
  const h = state.holder;
  if (!h || passphraseForResave === undefined) throw new Error('the wallet is locked');
  if (h.credentials.includes(jwt)) return;
  await keepWallet({ ...h, credentials: [...h.credentials, jwt] }, passphraseForResave);
}

export function forgetWallet(): void {
  localStorage.removeItem(STORE_KEY);
  passphraseForResave = undefined;
  set({}, ['sealed', 'holder', 'session', 'walletAccess']);
}

export function lock(): void {
  passphraseForResave = undefined;
  void signOut();
  set({}, ['holder', 'walletAccess']);
}

/** The wallet's role credentials that have not expired (what a sign-in presents). */
export function roleCredentials(holder: HolderKey): string[] {
  const now = Date.now() / 1000;
  return holder.credentials.filter((jwt) => {
    const d = describeCredential(jwt);
    return d.types.some((t) => ROLE_TYPES.includes(t)) && (d.expiresAt === undefined || d.expiresAt > now);
  });
}

/**
 * Sign in: ask the issuer for a challenge, present the role credentials over its nonce (a JWT VP signed with the
 * wallet's key, `aud` = the challenge's audience), and take the access token; then ask which pages the policy opens.
 */
export async function signIn(): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  const holder = state.holder;
  if (!holder) return { ok: false, code: 'ERR_AUTH_REQUIRED', message: 'unlock the wallet first' };
  const credentials = roleCredentials(holder);
  if (credentials.length === 0)
    return { ok: false, code: 'ERR_POLICY_DENIED', message: 'this wallet holds no role credential' };
  set({ busy: 'Signing in…' });
  try {
    const c = await api.challenge();
    if (!c.ok) return { ok: false, ...c.error };
    const vp = signJwt(holder, {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: credentials,
      },
      nonce: c.value.nonce,
      aud: c.value.audience,
    });
    const t = await api.token(vp);
    if (!t.ok) return { ok: false, ...t.error };
    const a = await api.access(t.value.accessToken);
    if (!a.ok) return { ok: false, ...a.error };
    set(
      {
        session: {
          token: t.value.accessToken,
          did: t.value.did,
          roles: t.value.roles,
          expiresAt: Date.parse(t.value.expiresAt),
          allowed: a.value.allowed,
        },
      },
      ['ended'],
    );
    return { ok: true };
  } finally {
    set({}, ['busy']);
  }
}

/**
 * Take the session a wallet on another device opened (the console's cross-device OpenID4VP sign-in: the verifier
 * granted `token` for the issuer's sign-in scope to the wallet that answered the request this browser showed). The
 * roles shown are read from the token's own credential list (display only: every request is decided by the policy).
 */
export async function adoptSession(
  token: string,
  expiresInSeconds: number,
): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  const a = await api.access(token);
  if (!a.ok) return { ok: false, ...a.error };
  const claims = jwtPayload(token)?.tessera as { credentials?: { types?: unknown }[] } | undefined;
  const roles = [
    ...new Set(
      (claims?.credentials ?? []).flatMap((c) =>
        (Array.isArray(c.types) ? c.types : []).filter((t): t is string => ROLE_TYPES.includes(t as string)),
      ),
    ),
  ];
  set(
    {
      session: {
        token,
        did: a.value.did,
        roles,
        expiresAt: Date.now() + expiresInSeconds * 1000,
        allowed: a.value.allowed,
      },
    },
    ['ended'],
  );
  return { ok: true };
}

export async function signOut(): Promise<void> {
  const s = state.session;
  set({}, ['session', 'ended']);
  if (s) await api.signOut(s.token);
}

/** A request of the session was refused because the session ended: keep the page, explain, ask to sign in. */
export function sessionEnded(code: string, message: string): void {
  if (!state.session) return;
  set({ ended: { code, message } }, ['session']);
}

const ENDING_CODES = new Set(['ERR_AUTH_EXPIRED', 'ERR_AUTH_INVALID', 'ERR_AUTH_REQUIRED']);
export const endsSession = (code: string) => ENDING_CODES.has(code);

// Sessions renew while in use: a token that ends within a minute is renewed if the user acted in the last five.
let lastActivity = Date.now();
export function startSessionKeeper(): void {
  for (const e of ['click', 'keydown', 'pointerdown']) addEventListener(e, () => (lastActivity = Date.now()), true);
  setInterval(() => void keep(), 5_000);
}
async function keep(): Promise<void> {
  const s = state.session;
  if (!s) return;
  const left = s.expiresAt - Date.now();
  if (left <= 0) {
    set(
      {
        ended: {
          code: 'ERR_AUTH_EXPIRED',
          message: `your session ended at ${new Date(s.expiresAt).toLocaleTimeString()} after a while without use`,
        },
      },
      ['session'],
    );
    return;
  }
  if (left > 60_000 || Date.now() - lastActivity > 5 * 60_000) return;
  const r = await api.renew(s.token);
  if (r.ok) {
    if (state.session?.token === s.token) {
      set({ session: { ...s, token: r.value.access_token, expiresAt: Date.now() + r.value.expires_in * 1000 } });
    }
    return;
  }
  // Past the session's maximum age: present the credentials again while the wallet is unlocked. A session signed out
  // on the server, or whose credential was revoked or suspended, ends and says so: signing in again on its own would
  // undo a sign-out made elsewhere. Anything else (the verifier unavailable) is tried again at the next tick.
  if (r.error.code === 'ERR_AUTH_EXPIRED') {
    if (state.holder) await signIn();
    return;
  }
  const ended = endsSession(r.error.code) || r.error.code === 'ERR_VC_REVOKED' || r.error.code === 'ERR_VC_SUSPENDED';
  if (ended && state.session?.token === s.token) sessionEnded(r.error.code, r.error.message);
}

/** The unlocked wallet's credentials of one of `types` that have not expired. */
export function credentialsOf(holder: HolderKey, types: string[]): string[] {
  const now = Date.now() / 1000;
  return holder.credentials.filter((jwt) => {
    const d = describeCredential(jwt);
    return d.types.some((t) => types.includes(t)) && (d.expiresAt === undefined || d.expiresAt > now);
  });
}

/**
 * An access token of the verifier for one resource and action of a service (the energy market, the offerings): ask
 * for a presentation request, present the wallet's credentials of the types it asks for over its nonce, take the token.
 * The policy decides; a refusal comes back as the verifier's own code. Nothing is kept: one token per action.
 */
export async function presentFor(
  resource: string,
  action: string,
): Promise<{ ok: true; token: string; holder: string } | { ok: false; code: string; message: string }> {
  const holder = state.holder;
  if (!holder) return { ok: false, code: 'ERR_AUTH_REQUIRED', message: 'unlock the wallet first' };
  const req = await api.presentationRequest(resource, action);
  if (!req.ok) return { ok: false, ...req.error };
  const types = req.value.requirements.flatMap((r) =>
    Array.isArray(r.credentialType) ? r.credentialType : [r.credentialType],
  );
  const credentials = credentialsOf(holder, types);
  const vp = signJwt(holder, {
    vp: {
      '@context': ['https://www.w3.org/2018/credentials/v1'],
      type: ['VerifiablePresentation'],
      verifiableCredential: credentials,
    },
    nonce: req.value.nonce,
    aud: req.value.audience,
  });
  const t = await api.present(vp);
  if (!t.ok) return { ok: false, ...t.error };
  return { ok: true, token: t.value.access_token, holder: t.value.holder };
}
