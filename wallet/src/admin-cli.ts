#!/usr/bin/env node
/**
 * The admin CLI (`npm run admin -- <command>`): log in to the issuer with the role credentials in a holder file (the
 * root admin wallet the stack writes, or any wallet holding Admin, Operator, Manufacturer or DeviceOwner credentials),
 * issue and manage credentials, register and manage devices. Every API command takes `--token` (from `login`) or
 * `--wallet` (log in on the way). `npm run admin -- --help` lists the commands.
 */
import type { ErrorCode } from '@tessera/protocol';
import {
  type Command,
  CliFailure,
  cliProgram,
  finishProgram,
  integerArg,
  isMain,
  runCli,
  urlArg,
  usageError,
} from '@tessera/runtime/cli';

/** What `POST /devices/batches` answers (the parts this CLI writes out). */
interface RegisteredBatch {
  batchId: number;
  root: string;
  devices: { deviceId: string; batchId: number; salt: string; proof: string[]; provisioning: unknown }[];
}

interface Access {
  url?: string;
  token?: string;
  wallet?: string;
}

/** The issuer's base URL: --url, else TESSERA_URL/issuer. */
async function issuerBase(o: Access): Promise<string> {
  if (o.url) return o.url.replace(/\/+$/, '');
  const { loadWalletConfig } = await import('./config.js');
  return loadWalletConfig().issuerUrl;
}

/** An access token: --token, or a login with the holder file in --wallet. */
async function tokenOf(o: Access, base: string): Promise<string> {
  if (o.token) return o.token;
  if (!o.wallet) throw usageError('give --token TOKEN (from `login`) or --wallet FILE (to log in on the way)');
  const { loginWithCredentials, readHolderFile } = await import('./admin-client.js');
  return loginWithCredentials(base, readHolderFile(o.wallet));
}

/** One issuer call; a refusal ends the command with the issuer's code. */
async function call(o: Access, method: string, path: string, body?: unknown): Promise<unknown> {
  const base = await issuerBase(o);
  const token = await tokenOf(o, base);
  const { issuerRequest } = await import('./admin-client.js');
  const r = await issuerRequest(base, method, path, { token, ...(body === undefined ? {} : { body }) });
  if (r.status >= 400) {
    const code = (r.json?.error?.code ?? 'ERR_INTERNAL') as ErrorCode;
    throw new CliFailure(
      code,
      r.json?.error?.message ?? `${method} ${path} answered ${r.status}: ${r.text.slice(0, 200)}`,
    );
  }
  return r.json;
}

function jsonArg(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliFailure('ERR_JSON_MALFORMED', `${what} is not valid JSON`);
  }
}

/** Flags every API command takes. */
const withAccess = (cmd: Command): Command =>
  cmd
    .option('--token <token>', 'access token from `login`')
    .option('--wallet <file>', 'log in with the role credentials in this holder file instead of --token')
    .option('--url <url>', 'issuer base URL (default: TESSERA_URL/issuer, http://127.0.0.1:8080/issuer)', urlArg);

export function adminProgram(): Command {
  const program = cliProgram({
    name: 'npm run admin --',
    description:
      "The issuer's admin client: log in with role credentials, issue and manage credentials, register and manage devices. Results go to stdout (JSON or one id), messages to stderr.",
    environment: [['TESSERA_URL', 'the stack; the issuer is TESSERA_URL/issuer (default http://127.0.0.1:8080)']],
    examples: [
      'TOKEN=$(npm run -s admin -- login --wallet .tessera/root-admin-wallet.json)',
      `ID=$(npm run -s admin -- credentials issue --token "$TOKEN" --type OperatorCredential --subject "$DID" --claims '{"name":"Grid ops"}')`,
      'npm run -s admin -- devices revoke --wallet .tessera/root-admin-wallet.json --device "$DEV"',
    ],
  });

  program
    .command('login')
    .description(
      "print an access token: present the holder file's role credentials over the issuer's nonce (a JWT VP signed with its DID key)",
    )
    .requiredOption('--wallet <file>', 'holder file with a DID, its key and role credentials')
    .option('--url <url>', 'issuer base URL (default: TESSERA_URL/issuer)', urlArg)
    .action(async (o: Access) => {
      const base = await issuerBase(o);
      console.log(await tokenOf(o, base));
    });

  program
    .command('add')
    .description('add a credential (an issuance response or a bare JWT) to a holder file')
    .requiredOption('--wallet <file>', 'the holder file')
    .requiredOption('--credential <file>', 'issuance response (.json) or credential JWT (.jwt)')
    .action(async (o: { wallet: string; credential: string }) => {
      const { readFileSync } = await import('node:fs');
      const [{ readHolderFile }, { writeFileAtomic }] = await Promise.all([
        import('./admin-client.js'),
        import('@tessera/runtime'),
      ]);
      const text = readFileSync(o.credential, 'utf8').trim();
      const jwt = text.startsWith('{') ? (jsonArg('--credential', text) as { jwt?: unknown }).jwt : text;
      if (typeof jwt !== 'string' || jwt.split('.').length !== 3)
        throw new CliFailure('ERR_VC_MALFORMED', `no credential JWT in ${o.credential}`);
      const wallet = readHolderFile(o.wallet);
      if (!wallet.credentials.includes(jwt)) wallet.credentials.push(jwt);
      writeFileAtomic(o.wallet, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
      console.error(`${o.wallet} now holds ${wallet.credentials.length} credentials`);
    });

  const credentials = program.command('credentials').description('issue, offer, show and change credentials');
  withAccess(
    credentials
      .command('issue')
      .description(
        'issue a credential; print its id (or the whole answer with --json); --add-to keeps it in a holder file',
      ),
  )
    .requiredOption(
      '--type <type>',
      'credential type, for example EnergyProsumerCredential (GET /issuer/credential-types)',
    )
    .requiredOption('--subject <did>', "the holder's DID")
    .requiredOption('--claims <json>', 'the claims as JSON (schemas: the issuer OpenAPI, …Claims)')
    .option('--validity-seconds <s>', 'validity (default: the type’s)', integerArg(1))
    .option('--json', 'print the whole issuance answer (with the JWT) instead of the id')
    .option('--add-to <file>', 'also add the credential to this holder file (the subject must be its DID)')
    .action(
      async (
        o: Access & {
          type: string;
          subject: string;
          claims: string;
          validitySeconds?: number;
          json?: boolean;
          addTo?: string;
        },
      ) => {
        const body = {
          type: o.type,
          subject: o.subject,
          claims: jsonArg('--claims', o.claims),
          ...(o.validitySeconds === undefined ? {} : { validitySeconds: o.validitySeconds }),
        };
        const issued = (await call(o, 'POST', '/credentials', body)) as { id: string; jwt: string };
        if (o.addTo) {
          const [{ readHolderFile }, { writeFileAtomic }] = await Promise.all([
            import('./admin-client.js'),
            import('@tessera/runtime'),
          ]);
          const wallet = readHolderFile(o.addTo);
          if (wallet.did !== o.subject)
            throw new CliFailure('ERR_BAD_REQUEST', `${o.addTo} holds ${wallet.did}, not the subject ${o.subject}`);
          if (!wallet.credentials.includes(issued.jwt)) wallet.credentials.push(issued.jwt);
          writeFileAtomic(o.addTo, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
          console.error(`added to ${o.addTo} (${wallet.credentials.length} credentials)`);
        }
        console.log(o.json ? JSON.stringify(issued) : issued.id);
      },
    );
  withAccess(
    credentials
      .command('offer')
      .description("make a one-time offer of a credential for its holder's wallet; print the offer JSON")
      .argument('<id>', 'credential id'),
  ).action(async (id: string, o: Access) => {
    console.log(JSON.stringify(await call(o, 'POST', `/credentials/${encodeURIComponent(id)}/offer`)));
  });
  withAccess(
    credentials.command('show').description('print a credential as JSON').argument('<id>', 'credential id'),
  ).action(async (id: string, o: Access) => {
    console.log(JSON.stringify(await call(o, 'GET', `/credentials/${encodeURIComponent(id)}`)));
  });
  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    withAccess(
      credentials
        .command(action)
        .description(`${action} a credential (Operator); print the credential after the change`)
        .argument('<id>', 'credential id')
        .option('--reason <text>', 'recorded in the audit trail'),
    ).action(async (id: string, o: Access & { reason?: string }) => {
      const body = o.reason ? { reason: o.reason } : undefined;
      console.log(JSON.stringify(await call(o, 'POST', `/credentials/${encodeURIComponent(id)}/${action}`, body)));
    });
  }

  const devices = program.command('devices').description('register devices and change their lifecycle');
  withAccess(
    devices
      .command('register')
      .description(
        'register a batch (Manufacturer): writes <out>/<deviceId>.json, the provisioning file with the secret (0600: hand it to the device, then delete it), and <out>/<deviceId>.batch.json (batch id, salt, proof); prints the batch id and device ids',
      )
      .requiredOption('--file <devices.json>', '{"devices":[{"characteristics":{…}}]}')
      .requiredOption('--out <dir>', 'where the provisioning files go (created 0700)'),
  ).action(async (o: Access & { file: string; out: string }) => {
    const [{ mkdirSync, readFileSync }, { join }, { writeFileAtomic }] = await Promise.all([
      import('node:fs'),
      import('node:path'),
      import('@tessera/runtime'),
    ]);
    const body = jsonArg('--file', readFileSync(o.file, 'utf8'));
    const batch = (await call(o, 'POST', '/devices/batches', body)) as RegisteredBatch;
    mkdirSync(o.out, { recursive: true, mode: 0o700 });
    for (const d of batch.devices) {
      writeFileAtomic(join(o.out, `${d.deviceId}.json`), `${JSON.stringify(d.provisioning, null, 2)}\n`, 0o600);
      const proof = { deviceId: d.deviceId, batchId: d.batchId, salt: d.salt, proof: d.proof };
      writeFileAtomic(join(o.out, `${d.deviceId}.batch.json`), `${JSON.stringify(proof, null, 2)}\n`, 0o600);
    }
    console.log(
      JSON.stringify({ batchId: batch.batchId, root: batch.root, devices: batch.devices.map((d) => d.deviceId) }),
    );
    console.error(`wrote ${batch.devices.length} provisioning files to ${o.out} (they hold the secrets; 0600)`);
  });
  withAccess(
    devices
      .command('commission')
      .description("bind the device's DID key and activate it (DeviceOwner)")
      .requiredOption('--device <id>', 'device id (0x and 64 hex digits)')
      .requiredOption('--identity <did>', "the device's did:ethr or address (npm run device -- show)"),
  ).action(async (o: Access & { device: string; identity: string }) => {
    const path = `/devices/${encodeURIComponent(o.device)}/commission`;
    console.log(JSON.stringify(await call(o, 'POST', path, { identity: o.identity })));
  });
  const lifecycle = {
    suspend: 'suspend an active device; its sessions are dropped (Operator)',
    resume: 'resume a suspended device (Operator)',
    revoke: 'revoke a device for good; its sessions are dropped (Operator)',
    decommission: 'take a device out of service for good (its owner, or an Operator)',
    show: 'print a device and its on-chain state',
  } as const;
  for (const [action, description] of Object.entries(lifecycle)) {
    withAccess(
      devices
        .command(action)
        .description(description)
        .requiredOption('--device <id>', 'device id (0x and 64 hex digits)'),
    ).action(async (o: Access & { device: string }) => {
      const path = `/devices/${encodeURIComponent(o.device)}`;
      const r = action === 'show' ? await call(o, 'GET', path) : await call(o, 'POST', `${path}/${action}`);
      console.log(JSON.stringify(r));
    });
  }
  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(adminProgram());
