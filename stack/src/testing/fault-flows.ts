/**
 * What the fault files that drive whole flows share: a seeded generator (a failing run repeats with its printed
 * seed), a JSON call that answers status 0 when the stack died before answering, and a wallet's sign-in at the
 * stack's verifier (presentation request → VP of the holder's credentials → access token).
 */
import assert from 'node:assert/strict';
import type { HolderKey } from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import type { Started } from './stack-process.js';

/** mulberry32: a small seeded generator, uniform in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked by the assertions
export type Json = Record<string, any>;

/** One JSON request (20 s at most); status 0 when the process died (or was killed) before answering. */
export async function http(method: string, url: string, body?: unknown, bearer?: string) {
  try {
    const r = await fetch(url, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: r.status, body: (await r.json().catch(() => ({}))) as Json };
  } catch {
    return { status: 0, body: {} as Json };
  }
}

/**
 * A VP JWT of every credential `key` holds, answering a presentation request's `nonce` and `audience` (tests present
 * exactly what they hold, unlike the wallet's `buildPresentation`, which picks per requirement).
 */
export function holderPresentation(key: HolderKey, request: Record<string, unknown>): Promise<string> {
  return createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: key.credentials,
      },
    } as never,
    { did: key.did, signer: ES256KSigner(hexToBytes(key.privateKey)), alg: 'ES256K' },
    { challenge: String(request.nonce), domain: String(request.audience) },
  );
}

/** A wallet's side: presentation request → VP of `key`'s credentials → access token for `resource` and `action`. */
export async function accessToken(s: Started, key: HolderKey, resource: string, action: string): Promise<string> {
  const req = await http('POST', `${s.http}/verifier/presentation-requests`, { resource, action });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const vp = await holderPresentation(key, req.body);
  const t = await http('POST', `${s.http}/verifier/presentations`, { vp });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.access_token as string;
}
