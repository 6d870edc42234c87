/**
 * A small admin CLI (`node --import tsx issuer/src/cli.ts …`):
 *   login --wallet <file> [--url <issuer URL>]   print an access token for the holder in the wallet: ask for a
 *       challenge, present the wallet's role credentials over the nonce (a JWT VP signed with the wallet's DID key),
 *       exchange the presentation for a token;
 *   add --wallet <file> --credential <file>      add a credential (an issuance response or a bare JWT) to a wallet.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '@tessera/contracts';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { readWallet } from './root-admin.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    wallet: { type: 'string' },
    url: { type: 'string', default: 'http://127.0.0.1:8080/issuer' },
    credential: { type: 'string' },
  },
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

const command = positionals[0];
if (!values.wallet || (command !== 'login' && command !== 'add') || (command === 'add' && !values.credential)) {
  console.error('usage: cli.ts login --wallet <wallet.json> [--url <issuer base URL>]');
  console.error('       cli.ts add --wallet <wallet.json> --credential <issuance response .json or .jwt>');
  process.exit(2);
}
if (command === 'add') {
  const text = readFileSync(values.credential!, 'utf8').trim();
  const jwt = text.startsWith('{') ? (JSON.parse(text) as { jwt?: string }).jwt : text;
  if (typeof jwt !== 'string' || jwt.split('.').length !== 3) {
    console.error('error ERR_VC_MALFORMED: no credential JWT in that file');
    process.exit(1);
  }
  const wallet = readWallet(values.wallet);
  if (!wallet.credentials.includes(jwt)) wallet.credentials.push(jwt);
  writeFileAtomic(values.wallet, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
  console.log(`${values.wallet} now holds ${wallet.credentials.length} credentials`);
  process.exit(0);
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
