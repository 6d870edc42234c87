/**
 * A small admin CLI (`npm run -s admin -- …`):
 *   login --wallet <file> [--url <issuer URL>]   print an access token for the holder in the wallet: ask for a
 *       challenge, present the wallet's role credentials over the nonce (a JWT VP signed with the wallet's DID key),
 *       exchange the presentation for a token;
 *   add --wallet <file> --credential <file>      add a credential (an issuance response or a bare JWT) to a wallet;
 *   devices register --token T --file <devices.json> --out <dir>
 *       register a batch (Manufacturer); writes <dir>/<deviceId>.json, the device-agent provisioning file (0600,
 *       holds the secret: hand it to the device, then delete it) and <dir>/<deviceId>.batch.json (batch id, salt,
 *       proof); prints the batch id and device ids. The issuer never returns the secrets again.
 *   devices commission --token T --device <id> --identity <address or did:ethr>     (DeviceOwner)
 *   devices suspend|resume|revoke --token T --device <id>                           (Operator)
 *   devices decommission|show --token T --device <id>                               (Operator or owner)
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '@tessera/runtime';
import { issuerRequest, loginWithCredentials, readHolderFile } from './admin-client.js';

/** What `POST /devices/batches` answers (the parts this CLI writes out). */
interface RegisteredBatch {
  batchId: number;
  root: string;
  devices: { deviceId: string; batchId: number; salt: string; proof: string[]; provisioning: unknown }[];
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    wallet: { type: 'string' },
    url: { type: 'string', default: 'http://127.0.0.1:8080/issuer' },
    credential: { type: 'string' },
    token: { type: 'string' },
    file: { type: 'string' },
    out: { type: 'string' },
    device: { type: 'string' },
    identity: { type: 'string' },
  },
});

function usage(): never {
  console.error('usage: cli.ts login --wallet <wallet.json> [--url <issuer base URL>]');
  console.error('       cli.ts add --wallet <wallet.json> --credential <issuance response .json or .jwt>');
  console.error('       cli.ts devices register --token T --file <devices.json> --out <dir> [--url …]');
  console.error('       cli.ts devices commission --token T --device <id> --identity <address|did:ethr> [--url …]');
  console.error('       cli.ts devices <suspend|resume|revoke|decommission|show> --token T --device <id> [--url …]');
  process.exit(2);
}

function fail(message: string): never {
  console.error(`error ${message}`);
  process.exit(1);
}

const base = values.url.replace(/\/+$/, '');

async function devices(action: string | undefined): Promise<void> {
  const token = values.token;
  if (!token) usage();
  const ok = (r: Awaited<ReturnType<typeof issuerRequest>>) => {
    if (r.status >= 400) fail(`${r.json?.error?.code ?? r.status}: ${r.json?.error?.message ?? r.text}`);
    return r.json;
  };
  if (action === 'register') {
    if (!values.file || !values.out) usage();
    const body = JSON.parse(readFileSync(values.file, 'utf8')) as unknown;
    const batch = ok(await issuerRequest(base, 'POST', '/devices/batches', { token, body })) as RegisteredBatch;
    mkdirSync(values.out, { recursive: true, mode: 0o700 });
    for (const d of batch.devices) {
      writeFileAtomic(join(values.out, `${d.deviceId}.json`), `${JSON.stringify(d.provisioning, null, 2)}\n`, 0o600);
      const proof = { deviceId: d.deviceId, batchId: d.batchId, salt: d.salt, proof: d.proof };
      writeFileAtomic(join(values.out, `${d.deviceId}.batch.json`), `${JSON.stringify(proof, null, 2)}\n`, 0o600);
    }
    console.log(
      JSON.stringify({ batchId: batch.batchId, root: batch.root, devices: batch.devices.map((d) => d.deviceId) }),
    );
    console.error(`wrote ${batch.devices.length} provisioning files to ${values.out} (they hold the secrets; 0600)`);
    return;
  }
  if (!values.device) usage();
  const path = `/devices/${encodeURIComponent(values.device)}`;
  if (action === 'show') console.log(JSON.stringify(ok(await issuerRequest(base, 'GET', path, { token }))));
  else if (action === 'commission') {
    if (!values.identity) usage();
    const body = { identity: values.identity };
    console.log(JSON.stringify(ok(await issuerRequest(base, 'POST', `${path}/commission`, { token, body }))));
  } else if (action && ['suspend', 'resume', 'revoke', 'decommission'].includes(action)) {
    console.log(JSON.stringify(ok(await issuerRequest(base, 'POST', `${path}/${action}`, { token }))));
  } else usage();
}

const command = positionals[0];
try {
  if (command === 'devices') await devices(positionals[1]);
  else if (command === 'add') {
    if (!values.wallet || !values.credential) usage();
    const text = readFileSync(values.credential, 'utf8').trim();
    const jwt = text.startsWith('{') ? (JSON.parse(text) as { jwt?: string }).jwt : text;
    if (typeof jwt !== 'string' || jwt.split('.').length !== 3)
      fail('ERR_VC_MALFORMED: no credential JWT in that file');
    const wallet = readHolderFile(values.wallet);
    if (!wallet.credentials.includes(jwt)) wallet.credentials.push(jwt);
    writeFileAtomic(values.wallet, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
    console.log(`${values.wallet} now holds ${wallet.credentials.length} credentials`);
  } else if (command === 'login') {
    if (!values.wallet) usage();
    console.log(await loginWithCredentials(base, readHolderFile(values.wallet)));
  } else usage();
} catch (e) {
  fail((e as Error).message);
}
