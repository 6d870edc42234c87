import { readFileSync } from 'node:fs';
import { type HolderKeyFile, isErrorCode, TesseraError } from '@tessera/protocol';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';

/** A holder's DID, key and role credentials (the root admin wallet file has this shape). */
export type HolderKey = Pick<HolderKeyFile, 'did' | 'privateKey' | 'credentials'>;

/** Read a plain holder key file such as the root admin wallet the stack writes on first start. */
export function readHolderFile(file: string): HolderKeyFile {
  return JSON.parse(readFileSync(file, 'utf8')) as HolderKeyFile;
}

export interface IssuerReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: callers read JSON bodies of many shapes
  json: any;
  text: string;
}

/** One JSON request to the issuer API (`base` is its URL, e.g. http://127.0.0.1:8080/issuer). */
export async function issuerRequest(
  base: string,
  method: string,
  path: string,
  o: { token?: string; body?: unknown } = {},
): Promise<IssuerReply> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base.replace(/\/+$/, '') + path, {
    method,
    headers,
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/**
 * Log in as a holder: ask for a challenge, present the holder's role credentials over the nonce (a JWT VP signed with
 * its DID key, `aud` = the issuer), exchange the presentation for an access token.
 */
export async function loginWithCredentials(base: string, holder: HolderKey): Promise<string> {
  const challenge = await issuerRequest(base, 'POST', '/auth/challenge');
  if (challenge.status !== 201) throw refusal('the challenge', challenge);
  const presentation = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: holder.credentials,
      },
      nonce: challenge.json.nonce,
      aud: challenge.json.audience,
    },
    { did: holder.did, signer: ES256KSigner(hexToBytes(holder.privateKey)), alg: 'ES256K' },
  );
  const token = await issuerRequest(base, 'POST', '/auth/token', { body: { presentation } });
  if (token.status !== 200) throw refusal('the login', token);
  return token.json.accessToken as string;
}

/** An issuer refusal as a TesseraError with the issuer's code (ERR_UNAVAILABLE when the answer has none). */
function refusal(what: string, r: IssuerReply): TesseraError {
  const code = r.json?.error?.code;
  return isErrorCode(code)
    ? new TesseraError(code, r.json.error.message ?? `${what} was refused`)
    : new TesseraError('ERR_UNAVAILABLE', `${what} answered ${r.status}: ${r.text.slice(0, 200)}`);
}
