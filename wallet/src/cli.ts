#!/usr/bin/env node
/**
 * The reference wallet (`npm run wallet -- <command>`), so a person can try DESIGN §1's wallet flow from a terminal:
 *
 *   init [--chain-id 31337]                   create a holder did:ethr key, sealed in <dir>/wallet.json (0600)
 *   did                                       print the holder DID
 *   receive <offer> [--issuer URL]            redeem a one-time credential offer and keep the credential
 *   list [--offline]                          held credentials: type, issuer, expiry, status
 *   present --resource R --action A [--verifier URL]   answer the verifier's presentation request, keep the token
 *   call <url> [--method POST] [--data JSON]  call a gated endpoint with the kept token
 *   delegate <url> [--resource R]             let a service (the data exchange's HTML interface) sign for the holder DID
 *                                             through an on-chain veriKey delegation the wallet checks and signs
 *
 * Every command takes --dir (default TESSERA_WALLET_DIR or ~/.tessera-wallet). TESSERA_WALLET_PASSPHRASE seals the
 * key with a passphrase instead of a key file; TESSERA_URL is the stack (default http://127.0.0.1:8080).
 * Failures print `error <CODE>: <message>` on stderr and exit 1 (2 for usage errors).
 */
import { parseArgs } from 'node:util';
import { type ErrorShape, type Result, TesseraError } from '@tessera/protocol';
import { loadWalletConfig } from './config.js';
import { authoriseHostedKey, callGated, present, publishedStatus, receiveOffer } from './flows.js';
import { TesseraWallet } from './store.js';

const USAGE = `usage: npm run wallet -- <command> [--dir DIR]
  init [--chain-id 31337]
  did
  receive <offer URL | offer JSON | code --issuer URL>
  list [--offline]
  present --resource /energy/meters/M/orders --action POST [--verifier URL]
  call <url> [--method POST] [--data '{"kWh":1}'] [--token JWT]
  delegate <url of …/partners/hosted-key> [--resource /data/exchange] [--token JWT]`;

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function fail(e: ErrorShape): never {
  console.error(`error ${e.code}: ${e.message}`);
  process.exit(1);
}

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) fail(r.error);
  return r.value;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        'chain-id': { type: 'string', default: '31337' },
        issuer: { type: 'string' },
        verifier: { type: 'string' },
        resource: { type: 'string' },
        action: { type: 'string' },
        method: { type: 'string' },
        data: { type: 'string' },
        token: { type: 'string' },
        offline: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  }
  try {
    parsed = parse();
  } catch (e) {
    usage((e as Error).message);
  }
  const { positionals, values } = parsed;
  const [command, arg] = positionals;
  if (values.help || command === undefined) usage('');
  const config = loadWalletConfig();
  const dir = values.dir ?? config.dir;
  const secret = config.passphrase === undefined ? {} : { passphrase: config.passphrase };

  switch (command) {
    case 'init': {
      const chainId = Number(values['chain-id']);
      if (!Number.isSafeInteger(chainId) || chainId <= 0) usage('--chain-id must be a positive integer');
      const w = unwrap(TesseraWallet.init(dir, { chainId, ...secret }));
      console.log(w.did);
      console.error(
        `wallet created at ${w.file} (mode 0600; key ${secret.passphrase ? 'sealed by passphrase' : 'sealed by wallet.key'})`,
      );
      return;
    }
    case 'did':
      console.log(unwrap(TesseraWallet.open(dir, secret)).did);
      return;
    case 'receive': {
      if (arg === undefined) usage('receive needs the offer (URL, JSON or code)');
      const w = unwrap(TesseraWallet.open(dir, secret));
      const vc = unwrap(await receiveOffer(w, arg, { ...(values.issuer ? { issuer: values.issuer } : {}) }));
      console.log(`received ${vc.type} ${vc.id}`);
      console.log(`  issuer ${vc.issuer}`);
      console.log(`  claims ${JSON.stringify(vc.claims)}`);
      if (vc.expiresAt) console.log(`  expires ${vc.expiresAt}`);
      return;
    }
    case 'list': {
      const w = unwrap(TesseraWallet.open(dir, secret));
      console.log(`${w.did}: ${w.credentials.length} credential(s)`);
      for (const vc of w.credentials) {
        const status = values.offline ? 'not checked' : await publishedStatus(vc);
        console.log(
          `  ${vc.type.padEnd(30)} ${status.padEnd(10)} expires ${vc.expiresAt ?? 'never'}  issuer ${vc.issuer}  ${vc.id}`,
        );
        console.log(`    claims ${JSON.stringify(vc.claims)}`);
      }
      return;
    }
    case 'present': {
      if (!values.resource || !values.action) usage('present needs --resource and --action');
      const w = unwrap(TesseraWallet.open(dir, secret));
      const r = unwrap(
        await present(w, values.verifier ?? config.verifierUrl, { resource: values.resource, action: values.action }),
      );
      console.log(r.access_token);
      console.error(
        `access granted: ${r.scopes.map((s) => `${s.action} ${s.resource}`).join(', ')} for ${r.expires_in} s (policies ${r.policies.join(', ')}); token kept in the wallet`,
      );
      return;
    }
    case 'call': {
      if (arg === undefined) usage('call needs the URL of the gated endpoint');
      let data: unknown;
      if (values.data !== undefined) {
        try {
          data = JSON.parse(values.data);
        } catch {
          fail({ code: 'ERR_JSON_MALFORMED', message: '--data is not valid JSON' });
        }
      }
      const w = unwrap(TesseraWallet.open(dir, secret));
      const r = unwrap(
        await callGated(w, arg, {
          ...(values.method ? { method: values.method } : {}),
          ...(data === undefined ? {} : { data }),
          ...(values.token ? { token: values.token } : {}),
        }),
      );
      console.log(typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2));
      return;
    }
    case 'delegate': {
      if (arg === undefined) usage("delegate needs the URL of the service's hosted-key endpoint");
      const w = unwrap(TesseraWallet.open(dir, secret));
      const r = unwrap(
        await authoriseHostedKey(w, arg, {
          ...(values.token ? { token: values.token } : {}),
          ...(values.resource ? { resource: values.resource } : {}),
        }),
      );
      console.log(JSON.stringify(r));
      console.error(
        r.alreadyActive
          ? `${r.delegate} already signs for ${w.did}`
          : `${r.delegate} now signs for ${w.did} (veriKey delegate, tx ${r.txHash}); revoke it on chain to end it`,
      );
      return;
    }
    default:
      usage(`unknown command '${command}'`);
  }
}

try {
  await main();
} catch (e) {
  if (e instanceof TesseraError) fail(e);
  console.error(`error ERR_INTERNAL: ${(e as Error)?.message ?? String(e)}`);
  process.exit(1);
}
