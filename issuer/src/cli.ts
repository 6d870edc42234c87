/**
 * `node --import tsx issuer/src/cli.ts login --wallet <file> --url <issuer URL>` prints an access token for the
 * holder in the wallet: it asks for a challenge, presents the wallet's role credentials over the nonce (a JWT VP
 * signed with the wallet's DID key) and exchanges the presentation for a token.
 */
import { parseArgs } from 'node:util';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { readWallet } from './root-admin.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { wallet: { type: 'string' }, url: { type: 'string', default: 'http://127.0.0.1:8080/issuer' } },
});

async function post(url: string, body?: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(`${json.error?.code ?? res.status}: ${json.error?.message ?? ''}`);
  return json;
}

if (positionals[0] !== 'login' || !values.wallet) {
  console.error('usage: cli.ts login --wallet <wallet.json> [--url <issuer base URL>]');
  process.exit(2);
}
try {
  const wallet = readWallet(values.wallet);
  const base = values.url.replace(/\/+$/, '');
  const challenge = (await post(`${base}/auth/challenge`)) as { nonce: string; audience: string };
  const presentation = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: wallet.credentials,
      },
      nonce: challenge.nonce,
      aud: challenge.audience,
    },
    { did: wallet.did, signer: ES256KSigner(hexToBytes(wallet.privateKey)), alg: 'ES256K' },
  );
  const token = (await post(`${base}/auth/token`, { presentation })) as { accessToken: string };
  console.log(token.accessToken);
} catch (e) {
  console.error(`error ${(e as Error).message}`);
  process.exit(1);
}
