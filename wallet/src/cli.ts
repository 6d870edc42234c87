#!/usr/bin/env node
/**
 * The reference wallet (`npm run wallet -- <command>`): a holder's did:ethr key sealed at rest, credentials received
 * from one-time offers, presentations answered, gated services called. `npm run wallet -- --help` lists the commands;
 * docs/wallet.md is the guide. Modules that do the work are imported inside each command, so `--help` and usage errors
 * answer at once.
 */
import type { ErrorShape, Result } from '@tessera/protocol';
import { type Command, CliFailure, cliProgram, finishProgram, integerArg, isMain, runCli } from '@tessera/runtime/cli';

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw new CliFailure(r.error.code, r.error.message);
  return r.value;
}
const failWith = (e: ErrorShape): never => {
  throw new CliFailure(e.code, e.message);
};

/** The wallet directory and the way its key is sealed, from the flags and the environment. */
async function open(cmd: Command) {
  const { loadWalletConfig } = await import('./config.js');
  const config = loadWalletConfig();
  const dir = (cmd.optsWithGlobals() as { dir?: string }).dir ?? config.dir;
  const secret = config.passphrase === undefined ? {} : { passphrase: config.passphrase };
  return { config, dir, secret };
}

export function walletProgram(): Command {
  const program = cliProgram({
    name: 'npm run wallet --',
    description:
      "A holder's wallet: a did:ethr key sealed in <dir>/wallet.json (mode 0600), the credentials it received, the access tokens it was granted.",
    environment: [
      ['TESSERA_WALLET_DIR', 'the wallet directory (default ~/.tessera-wallet; --dir overrides it)'],
      ['TESSERA_WALLET_PASSPHRASE', 'seal the key with this passphrase (8+ characters) instead of <dir>/wallet.key'],
      ['TESSERA_URL', 'the stack the wallet talks to (default http://127.0.0.1:8080)'],
    ],
    examples: [
      'npm run -s wallet -- init',
      'npm run -s wallet -- receive "$OFFER"',
      'npm run -s wallet -- present --resource /energy/meters/DE000123/orders --action POST --yes',
      'npm run -s wallet -- transfer solar-2031 --to did:ethr:0x7a69:0x… --amount 100 --yes',
    ],
  });
  program.option('--dir <dir>', 'wallet directory (default: TESSERA_WALLET_DIR or ~/.tessera-wallet)');

  program
    .command('init')
    .description('create the holder key and print its new did:ethr')
    .option('--chain-id <id>', 'chain id in the DID', integerArg(1), 31337)
    .action(async (o: { chainId: number }, cmd: Command) => {
      const { dir, secret } = await open(cmd);
      const { TesseraWallet } = await import('./store.js');
      const w = unwrap(TesseraWallet.init(dir, { chainId: o.chainId, ...secret }));
      console.log(w.did);
      console.error(
        `wallet created at ${w.file} (mode 0600; key ${secret.passphrase ? 'sealed by passphrase' : 'sealed by wallet.key'})`,
      );
    });

  program
    .command('did')
    .description("print the holder's DID")
    .action(async (_o: unknown, cmd: Command) => {
      const { dir, secret } = await open(cmd);
      const { TesseraWallet } = await import('./store.js');
      console.log(unwrap(TesseraWallet.open(dir, secret)).did);
    });

  program
    .command('receive')
    .description('receive the credentials of an offer (OpenID4VCI, both formats) and keep them')
    .argument(
      '<offer>',
      "the offer: openid-credential-offer://…, the issuer's offer answer (JSON), its URL, or a pre-authorised code with --issuer",
    )
    .option('--issuer <url>', 'the issuer a bare code belongs to')
    .option('--tx-code <code>', 'the transaction code the issuer sent you by another channel')
    .action(async (offer: string, o: { issuer?: string; txCode?: string }, cmd: Command) => {
      const { dir, secret } = await open(cmd);
      const [{ TesseraWallet }, { receiveOffer }, { receiveCredentialOffer }] = await Promise.all([
        import('./store.js'),
        import('./flows.js'),
        import('./oid4vc.js'),
      ]);
      const w = unwrap(TesseraWallet.open(dir, secret));
      // OpenID4VCI: an openid-credential-offer:// URI, or the issuer's offer answer carrying one.
      let offerUri: string | undefined = offer.startsWith('openid-credential-offer:') ? offer : undefined;
      if (offerUri === undefined && offer.trim().startsWith('{')) {
        try {
          const parsed = JSON.parse(offer) as { offer_uri?: unknown };
          if (typeof parsed.offer_uri === 'string') offerUri = parsed.offer_uri;
        } catch {
          /* the legacy parser words the error */
        }
      }
      const held = offerUri
        ? unwrap(await receiveCredentialOffer(w, offerUri, o.txCode ? { txCode: o.txCode } : {}))
        : [unwrap(await receiveOffer(w, offer, { ...(o.issuer ? { issuer: o.issuer } : {}) }))];
      for (const vc of held) {
        console.log(`received ${vc.type} ${vc.id} (${vc.format ?? 'jwt_vc_json'})`);
        console.log(`  issuer ${vc.issuer}`);
        console.log(`  claims ${JSON.stringify(vc.claims)}`);
        if (vc.expiresAt) console.log(`  expires ${vc.expiresAt}`);
      }
    });

  program
    .command('list')
    .description('the credentials held: type, status at the issuer, expiry, issuer, claims')
    .option('--offline', 'do not ask the issuers for the status')
    .action(async (o: { offline?: boolean }, cmd: Command) => {
      const { dir, secret } = await open(cmd);
      const [{ TesseraWallet }, { publishedStatus }] = await Promise.all([import('./store.js'), import('./flows.js')]);
      const w = unwrap(TesseraWallet.open(dir, secret));
      console.log(`${w.did}: ${w.credentials.length} credential(s)`);
      for (const vc of w.credentials) {
        const status = o.offline ? 'not checked' : await publishedStatus(vc);
        console.log(
          `  ${vc.type.padEnd(30)} ${status.padEnd(10)} expires ${vc.expiresAt ?? 'never'}  issuer ${vc.issuer}  ${vc.id}`,
        );
        console.log(`    claims ${JSON.stringify(vc.claims)}`);
      }
    });

  program
    .command('present')
    .description(
      'answer the verifier over OpenID4VP for a resource, or answer a request shown elsewhere (--request, e.g. the console sign-in QR code): check its signed request, show who asks and for what, ask, then answer',
    )
    .option('--resource <path>', 'the resource, for example /energy/meters/DE000123/orders')
    .option('--action <method>', 'the action, for example POST')
    .option(
      '--request <uri>',
      'answer this openid4vp:// request (from a QR code or a link on another device) instead of asking for one',
    )
    .option('--verifier <url>', 'the verifier (default: TESSERA_URL/verifier)')
    .option('--verifier-did <did>', "the verifier's DID (default: from its metadata at --verifier)")
    .option('--response-mode <mode>', 'direct_post or direct_post.jwt (encrypted, the default)', 'direct_post.jwt')
    .option('--format <format>', 'prefer dc+sd-jwt (the default: only the asked claims) or jwt_vc_json')
    .option('-y, --yes', 'answer without asking (needed without a terminal)')
    .action(
      async (
        o: {
          resource?: string;
          action?: string;
          request?: string;
          verifier?: string;
          verifierDid?: string;
          responseMode: string;
          format?: string;
          yes?: boolean;
        },
        cmd: Command,
      ) => {
        if (o.request === undefined && (o.resource === undefined || o.action === undefined)) {
          failWith({ code: 'ERR_VALIDATION', message: 'give --resource and --action, or --request <openid4vp://…>' });
        }
        if (o.request !== undefined && (o.resource !== undefined || o.action !== undefined)) {
          failWith({ code: 'ERR_VALIDATION', message: '--request names its own resource and action' });
        }
        if (o.responseMode !== 'direct_post' && o.responseMode !== 'direct_post.jwt') {
          failWith({ code: 'ERR_VALIDATION', message: '--response-mode is direct_post or direct_post.jwt' });
        }
        if (o.format !== undefined && o.format !== 'dc+sd-jwt' && o.format !== 'jwt_vc_json') {
          failWith({ code: 'ERR_VALIDATION', message: '--format is dc+sd-jwt or jwt_vc_json' });
        }
        const { config, dir, secret } = await open(cmd);
        const [{ TesseraWallet }, { answerOpenid4vp, presentOpenid4vp }, { createInterface }] = await Promise.all([
          import('./store.js'),
          import('./oid4vc.js'),
          import('node:readline/promises'),
        ]);
        const w = unwrap(TesseraWallet.open(dir, secret));
        // OpenID4VP: the signed request is checked against the verifier addressed here before anything is shown.
        const confirm = async (c: import('./oid4vc.js').PresentationConsent): Promise<boolean> => {
          console.error(`${c.verifier} asks, answering to ${c.responseUri}`);
          console.error(`  for ${c.action ?? '?'} ${c.resource ?? '?'}`);
          for (const a of c.asks) {
            console.error(`  a ${a.types.join(' or ')} disclosing ${a.claims.join(', ') || 'all its claims'}`);
          }
          for (const t of c.transactionData) console.error(`  binding ${JSON.stringify(t)}`);
          if (o.yes) return true;
          if (!process.stdin.isTTY) {
            console.error('not answered: run with --yes to answer without a terminal');
            return false;
          }
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question('answer? [y/N] ');
          rl.close();
          return /^y(es)?$/i.test(answer.trim());
        };
        const options = {
          ...(o.format ? { preferFormat: o.format as 'dc+sd-jwt' | 'jwt_vc_json' } : {}),
          ...(o.verifierDid ? { verifierDid: o.verifierDid } : {}),
          confirm,
        };
        if (o.request !== undefined) {
          const r = unwrap(await answerOpenid4vp(w, o.verifier ?? config.verifierUrl, o.request, options));
          if (r.access_token) {
            console.log(r.access_token);
            console.error(`access granted to ${r.holder}; token kept in the wallet`);
          } else {
            console.error(`answered as ${r.holder}: the device that showed the request receives the session`);
          }
          return;
        }
        const r = unwrap(
          await presentOpenid4vp(
            w,
            o.verifier ?? config.verifierUrl,
            { resource: o.resource!, action: o.action! },
            { responseMode: o.responseMode as 'direct_post' | 'direct_post.jwt', ...options },
          ),
        );
        console.log(r.access_token);
        console.error(`access granted to ${r.holder}; token kept in the wallet`);
      },
    );

  program
    .command('call')
    .description('call a gated endpoint with the kept token whose resource the URL ends with; print the answer')
    .argument('<url>', 'the endpoint: a URL, or a path such as /services/energy/… on the stack (TESSERA_URL)')
    .option('--method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('--data <json>', 'JSON request body')
    .option('--token <jwt>', 'use this access token instead of a kept one')
    .action(async (url: string, o: { method?: string; data?: string; token?: string }, cmd: Command) => {
      let data: unknown;
      if (o.data !== undefined) {
        try {
          data = JSON.parse(o.data);
        } catch {
          failWith({ code: 'ERR_JSON_MALFORMED', message: '--data is not valid JSON' });
        }
      }
      const { config, dir, secret } = await open(cmd);
      const [{ TesseraWallet }, { callGated }] = await Promise.all([import('./store.js'), import('./flows.js')]);
      const w = unwrap(TesseraWallet.open(dir, secret));
      const r = unwrap(
        await callGated(w, url.startsWith('/') ? config.stackUrl + url : url, {
          ...(o.method ? { method: o.method } : {}),
          ...(data === undefined ? {} : { data }),
          ...(o.token ? { token: o.token } : {}),
        }),
      );
      console.log(typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2));
    });

  program
    .command('transfer')
    .description(
      "move an offering's security tokens to another investor without gas: sign an EIP-3009 transfer authorisation (shown first) that the stack relays; the token checks both investors",
    )
    .argument('<offering>', 'the offering id, for example solar-2031')
    .requiredOption('--to <did|address>', "the receiver's did:ethr or address")
    .requiredOption('--amount <units>', 'how many token units, for example 100')
    .option('--valid-for <seconds>', 'how long the signed authorisation may be submitted', integerArg(10), 600)
    .option('--sign-only', 'print the signed authorisation as JSON (the body of POST …/transfers) and send nothing')
    .option('-y, --yes', 'sign without asking (needed without a terminal)')
    .action(
      async (
        offering: string,
        o: { to: string; amount: string; validFor: number; signOnly?: boolean; yes?: boolean },
        cmd: Command,
      ) => {
        const { config, dir, secret } = await open(cmd);
        const [{ TesseraWallet }, { signTransfer, transferTokens }, { createInterface }] = await Promise.all([
          import('./store.js'),
          import('./transfer.js'),
          import('node:readline/promises'),
        ]);
        const w = unwrap(TesseraWallet.open(dir, secret));
        const request: import('./transfer.js').TransferRequest = {
          offeringId: offering,
          to: o.to,
          amount: o.amount,
          validSeconds: o.validFor,
          confirm: async (c) => {
            console.error(
              `sign a transfer of ${c.amount} ${c.token.symbol} (${c.offeringId}, token ${c.token.address} on chain ${c.chainId})`,
            );
            console.error(`  from ${c.from} to ${c.to}, valid until ${new Date(c.validBefore * 1000).toISOString()}`);
            if (o.yes) return true;
            if (!process.stdin.isTTY) {
              console.error('not signed: run with --yes to sign without a terminal');
              return false;
            }
            const rl = createInterface({ input: process.stdin, output: process.stderr });
            const answer = await rl.question('sign? [y/N] ');
            rl.close();
            return /^y(es)?$/i.test(answer.trim());
          },
        };
        if (o.signOnly) {
          console.log(JSON.stringify(unwrap(await signTransfer(w, config.stackUrl, request))));
          console.error(
            'signed, not sent: POST it to …/services/offerings/<offering>/transfers (once: its nonce is spent)',
          );
          return;
        }
        const r = unwrap(await transferTokens(w, config.stackUrl, request));
        console.log(JSON.stringify(r, null, 2));
        console.error(`transferred ${o.amount} units of ${offering} to ${r.to} (tx ${r.txHash})`);
      },
    );

  program
    .command('delegate')
    .description(
      "let a service (such as the data exchange's hosted key) sign for the holder DID through an on-chain veriKey delegation the wallet checks and signs",
    )
    .argument('<url>', "the service's hosted-key endpoint (…/partners/hosted-key)")
    .option('--resource <path>', 'the resource whose token authorises the request (default /data/exchange)')
    .option('--token <jwt>', 'use this access token instead of a kept one')
    .action(async (url: string, o: { resource?: string; token?: string }, cmd: Command) => {
      const { dir, secret } = await open(cmd);
      const [{ TesseraWallet }, { authoriseHostedKey }] = await Promise.all([
        import('./store.js'),
        import('./flows.js'),
      ]);
      const w = unwrap(TesseraWallet.open(dir, secret));
      const r = unwrap(
        await authoriseHostedKey(w, url, {
          ...(o.token ? { token: o.token } : {}),
          ...(o.resource ? { resource: o.resource } : {}),
        }),
      );
      console.log(JSON.stringify(r));
      console.error(
        r.alreadyActive
          ? `${r.delegate} already signs for ${w.did}`
          : `${r.delegate} now signs for ${w.did} (veriKey delegate, tx ${r.txHash}); revoke it on chain to end it`,
      );
    });

  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(walletProgram());
