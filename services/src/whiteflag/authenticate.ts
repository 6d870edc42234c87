import { type DeviceChainStatus, readDeviceStatus } from '@tessera/contracts';
import { err, ethrDid, ok, parseEthrDid, type Result } from '@tessera/protocol';
import {
  authTokenMatches,
  evmAddressBytes,
  MAX_STATEMENT_BYTES,
  parseStatement,
  type WhiteflagMessage,
} from '@tessera/protocol/whiteflag';
import type { DeviceSecretVault } from '@tessera/verifier';
import { verifyJWS } from 'did-jwt';
import type { DIDDocument, Resolvable, VerificationMethod } from 'did-resolver';
import type { AuthenticationVerdict, Authenticator } from './listener.js';

/**
 * How a receiver checks an originator's authentication messages, mapped onto Tessera identities (docs/whiteflag.md):
 *
 * - method 1: the URL names a signed statement (flattened JWS, ES256K) whose payload gives the sending address, the
 *   originator's name, the URL and the originator's did:ethr; the signature must verify with a key of that DID's
 *   document as the chain has it now, and that key must be the sending account's own (§5.1.2.1: the statement is
 *   signed with the key of the account that sends the `A1`). The message is then the DID's.
 * - method 2: the token is HKDF(secret, §5.2.3 salt, sending address); a device's secret is its pre-shared secret
 *   (the one its handshake proves), so a match names the device, and the device registry on chain names its DID.
 */

/** Fetches a statement; refuses URLs outside the allowed origins (no request to anywhere an `A1` points). */
export type StatementFetcher = (url: string) => Promise<Result<string>>;

export function httpStatementFetcher(o: { allowedOrigins: readonly string[]; timeoutMs?: number }): StatementFetcher {
  const origins = new Set(o.allowedOrigins.map((u) => new URL(u).origin));
  return async (url) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return err('ERR_WHITEFLAG_AUTH_FAILED', 'the verification data is not a URL');
    }
    if (!origins.has(u.origin))
      return err(
        'ERR_WHITEFLAG_AUTH_FAILED',
        `statements are only fetched from ${[...origins].join(', ') || 'nowhere'}`,
      );
    try {
      const res = await fetch(u, { redirect: 'manual', signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
      if (res.status !== 200) return err('ERR_WHITEFLAG_AUTH_FAILED', `the statement URL answered ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > MAX_STATEMENT_BYTES) return err('ERR_WHITEFLAG_AUTH_FAILED', 'the statement is too large');
      const body = Buffer.from(await res.arrayBuffer());
      if (body.length > MAX_STATEMENT_BYTES) return err('ERR_WHITEFLAG_AUTH_FAILED', 'the statement is too large');
      return ok(body.toString('utf8'));
    } catch (e) {
      return err('ERR_WHITEFLAG_AUTH_FAILED', `the statement could not be fetched: ${(e as Error).message}`);
    }
  };
}

/** The lower-case EVM address of a verification method (did:ethr uses blockchainAccountId). */
export function addressOf(vm: VerificationMethod): string | undefined {
  const id = vm.blockchainAccountId ?? vm.ethereumAddress;
  const m = id ? /0x[0-9a-fA-F]{40}/.exec(id) : null;
  return m ? m[0].toLowerCase() : undefined;
}

/** The verification methods a statement may be signed with: assertion methods and authentication keys. */
function signingMethods(doc: DIDDocument): VerificationMethod[] {
  const byId = new Map((doc.verificationMethod ?? []).map((v) => [v.id, v]));
  const out: VerificationMethod[] = [];
  for (const r of [...(doc.assertionMethod ?? []), ...(doc.authentication ?? [])]) {
    const vm = typeof r === 'string' ? byId.get(r) : r;
    if (vm && !out.includes(vm)) out.push(vm);
  }
  return out;
}

export interface StatementAuthenticatorOptions {
  fetch: StatementFetcher;
  resolver: Resolvable;
  chainId: number;
}

/** Method 1: the signed statement at the URL, checked against the originator's DID document on chain. */
export async function verifyStatement(
  o: StatementAuthenticatorOptions,
  url: string,
  originator: string,
): Promise<AuthenticationVerdict> {
  const fail = (reason: string): AuthenticationVerdict => ({ status: 'failed', reason });
  const text = await o.fetch(url);
  if (!text.ok) return fail(text.error.message);
  const st = parseStatement(text.value);
  if (!st.ok) return fail(st.error.message);
  const p = st.value.payload;
  if (p.url !== url) return fail('the statement names another URL than the authentication message');
  if (p.addr.toLowerCase() !== originator) return fail(`the statement is for ${p.addr}, not the sender ${originator}`);
  if (!p.did) return fail('the statement names no DID');
  const did = parseEthrDid(p.did);
  if (!did.ok) return fail('the statement’s DID is not a did:ethr');
  const network = did.value.network;
  if (network !== undefined && BigInt(network) !== BigInt(o.chainId))
    return fail(`the DID is on chain ${network}, not this chain (${o.chainId})`);
  const resolved = await o.resolver.resolve(p.did);
  const doc = resolved.didDocument;
  if (!doc || (resolved.didDocumentMetadata as { deactivated?: boolean }).deactivated)
    return fail(`the DID does not resolve: ${resolved.didResolutionMetadata.error ?? 'deactivated'}`);
  let signer: VerificationMethod;
  try {
    signer = verifyJWS(st.value.compact, signingMethods(doc));
  } catch {
    return fail('the statement is not signed by a key of the DID as it is on chain now');
  }
  if (addressOf(signer) !== originator)
    return fail('the statement is signed by a key of the DID, but not by the sending account (§5.1.2.1)');
  return { status: 'verified', did: ethrDid(o.chainId, did.value.identifier), name: p.orgname };
}

/** A pre-shared token held for an originator other than a device. */
export interface OriginatorToken {
  did: string;
  name?: string;
  secret: Uint8Array;
}

export interface TokenAuthenticatorOptions {
  /** Device pre-shared secrets (the verifier's vault). */
  vault?: Pick<DeviceSecretVault, 'list' | 'get'>;
  /** The device registry: a matching device must be Active, and its identity is its DID. */
  deviceStatus?(deviceId: string): Promise<DeviceChainStatus>;
  tokens?: () => readonly OriginatorToken[];
  chainId: number;
}

/** Method 2: which held secret (a device's, or an originator's token) the verification data comes from. */
export async function verifyToken(
  o: TokenAuthenticatorOptions,
  verificationData: string,
  originator: string,
): Promise<AuthenticationVerdict> {
  const address = evmAddressBytes(originator);
  if (!address.ok) return { status: 'failed', reason: 'the sender is not an EVM address' };
  for (const t of o.tokens?.() ?? []) {
    if (authTokenMatches(verificationData, t.secret, address.value))
      return { status: 'verified', did: t.did, ...(t.name ? { name: t.name } : {}) };
  }
  if (o.vault) {
    for (const deviceId of await o.vault.list()) {
      const v = await o.vault.get(deviceId);
      if (!v) continue;
      let match = false;
      try {
        match = authTokenMatches(verificationData, v.secret, address.value);
      } finally {
        v.secret.fill(0);
      }
      if (!match) continue;
      const status = o.deviceStatus ? await o.deviceStatus(deviceId) : undefined;
      if (status && status.state !== 'Active')
        return { status: 'failed', deviceId, reason: `the device is ${status.state} on chain` };
      return {
        status: 'verified',
        deviceId,
        ...(status?.identity ? { did: ethrDid(o.chainId, status.identity) } : {}),
      };
    }
  }
  return { status: 'failed', reason: 'the token matches no secret held here' };
}

/** Both methods behind the listener's `Authenticator`. */
export function tesseraAuthenticator(o: StatementAuthenticatorOptions & TokenAuthenticatorOptions): Authenticator {
  return {
    async verify(message: WhiteflagMessage, originator: string) {
      const method = message.MessageBody['VerificationMethod'];
      const data = message.MessageBody['VerificationData'] as string;
      if (method === '1') return verifyStatement(o, data, originator);
      if (method === '2') return verifyToken(o, data, originator);
      return { status: 'failed', reason: `verification method ${String(method)} is not supported here` };
    },
  };
}

/** `deviceStatus` from the device registry contract. */
export function registryDeviceStatus(registry: Parameters<typeof readDeviceStatus>[0]) {
  return (deviceId: string) => readDeviceStatus(registry, deviceId);
}
