import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connectChain, Keystore, openDatabase, Outbox, outboxDatabaseParts } from '@tessera/contracts';
import { err, ethrDid, type Logger, ok, TesseraError } from '@tessera/protocol';
import {
  AccessTokens,
  createDidResolver,
  DEFAULT_POLICY_FILE,
  FileDeviceSecretVault,
  loadPolicyFile,
  parseTrustList,
  PolicyEngine,
  requireCredentials,
  resourceMatches,
} from '@tessera/verifier';
import express from 'express';
import type { WhiteflagNodeConfig } from './config.js';
import { loadWhiteflagKeys } from './config.js';
import { startWhiteflagPart, type WhiteflagPart } from './part.js';
import { whiteflagDatabaseParts } from './store.js';

/** The keystore name of a node's own account (it publishes the node's authentication and ECDH key). */
export const NODE_KEY = 'whiteflag-node';

export interface RunningWhiteflagNode {
  url: string;
  /** Where its API is mounted. */
  apiUrl: string;
  did: string;
  account: string;
  part: WhiteflagPart;
  stop(): Promise<void>;
}

/**
 * A stand-alone Whiteflag receiver: its own database, keys and account on the same chain as a stack. It follows the
 * chain, authenticates originators (statements from the allowed origins, device tokens from its vault), decrypts what
 * its keys open (its pre-shared keys, and ECDH with its own account's key, published as K(0)0A), and serves the read
 * API, guarded by access tokens of the stack's verifier (checked with its public key, scope and policy re-evaluated).
 */
export async function startWhiteflagNode(config: WhiteflagNodeConfig, log: Logger): Promise<RunningWhiteflagNode> {
  const closers: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const { provider, chainId } = await connectChain(config.rpcUrl);
    closers.push(() => provider.destroy());
    const keystore = Keystore.open(join(config.dataDir, 'keys'), config.masterKey);
    const key = keystore.getOrCreate(NODE_KEY).connect(provider);
    const did = ethrDid(chainId, key.address);
    const db = await openDatabase(
      {
        ...(config.databaseUrl ? { url: config.databaseUrl } : {}),
        sqlitePath: join(config.dataDir, 'whiteflag.sqlite'),
      },
      {
        entities: [...outboxDatabaseParts.entities, ...whiteflagDatabaseParts.entities],
        migrations: [...outboxDatabaseParts.migrations, ...whiteflagDatabaseParts.migrations],
      },
    );
    closers.push(() => db.destroy());
    // the node's account is its own relayer: it pays for its authentication and key messages
    const outbox = new Outbox({
      dataSource: db,
      signer: key,
      provider,
      chainId,
      onError: (e) => log.warn({ err: e }, 'outbox flush failed; will retry'),
    });
    await outbox.reconcile();
    outbox.start(500);
    closers.push(() => outbox.stop());
    const resolution = await createDidResolver({
      chainId,
      provider,
      registry: config.didRegistry,
      ...(config.wsUrl ? { wsUrl: config.wsUrl } : {}),
      onError: (e) => log.warn({ err: e }, 'registry watcher error'),
    });
    closers.push(() => resolution.stop());

    const trust = parseTrustList(JSON.parse(readFileSync(config.trustListFile, 'utf8')));
    if (!trust.ok) throw new TesseraError('ERR_CONFIG_INVALID', `TESSERA_TRUST_LIST_FILE: ${trust.error.message}`);
    const policies = loadPolicyFile(config.policyFile ?? DEFAULT_POLICY_FILE);
    if (!policies.ok) throw new TesseraError('ERR_POLICY_INVALID', policies.error.message);
    const policy = new PolicyEngine(policies.value, { trust: trust.value });
    const tokens = new AccessTokens({ did: config.verifierDid, publicKey: config.verifierPublicKey });
    const guardDeps = {
      async authorize(token: string, resource: string, action: string) {
        const v = tokens.verify(token);
        if (!v.ok) return v;
        const a = action.toUpperCase();
        if (
          !v.value.scopes.some(
            (s) => (s.action === '*' || s.action.toUpperCase() === a) && resourceMatches(s.resource, resource),
          )
        )
          return err('ERR_FORBIDDEN', `the access token does not grant ${a} on ${resource}`);
        const d = policy.evaluate({ resource, action: a }, v.value.credentials);
        return d.ok ? ok(v.value) : d;
      },
    };
    const keys = config.keysFile ? loadWhiteflagKeys(config.keysFile) : { preSharedKeys: {}, tokens: [] };
    const vault = config.vault
      ? new FileDeviceSecretVault(config.vault.path, Buffer.from(config.vault.key, 'hex'))
      : undefined;

    const app = express();
    app.disable('x-powered-by');
    const server: Server = await new Promise((resolve, reject) => {
      const s = app.listen(config.httpPort, config.host);
      s.once('listening', () => resolve(s));
      s.once('error', reject);
    });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const url = `http://${config.host}:${(server.address() as AddressInfo).port}`;
    const apiUrl = `${url}/services/whiteflag`;
    const part = await startWhiteflagPart({
      db,
      outbox,
      provider,
      chainId,
      keystore,
      contracts: { EthereumDIDRegistry: config.didRegistry, DeviceRegistry: config.deviceRegistry },
      resolver: resolution.resolver,
      registrySynced: (n) => resolution.watcher.waitForBlock(n),
      guard: (o) => requireCredentials(guardDeps, o),
      policy,
      ...(vault ? { vault } : {}),
      actorKeys: new Map([[did, NODE_KEY]]),
      publicUrl: apiUrl,
      config: {
        preSharedKeys: keys.preSharedKeys,
        tokens: keys.tokens,
        statementOrigins: config.statementOrigins,
        ...(config.startBlock !== undefined ? { startBlock: config.startBlock } : {}),
        confirmations: config.confirmations,
        funding: false,
      },
      log,
    });
    closers.push(() => part.stop());
    app.use('/services/whiteflag', part.router);

    // Publish the node's authentication and ECDH key once its account can pay for them (checked until it can).
    let timer: NodeJS.Timeout | undefined;
    let warned = false;
    const publishAccount = async () => {
      timer = undefined;
      if ((await provider.getBalance(key.address).catch(() => 0n)) > 0n) {
        const r = await part.accounts.ensureDidAccount({ did, keyName: NODE_KEY, name: config.name });
        if (!r.ok) log.warn({ err: r.error }, 'the node account could not be set up');
        return;
      }
      if (!warned) log.warn({ account: key.address }, 'the node account has no funds: fund it to publish its ECDH key');
      warned = true;
      timer = setTimeout(() => void publishAccount(), 1000);
    };
    await publishAccount();
    closers.push(() => clearTimeout(timer));
    return { url, apiUrl, did, account: key.address.toLowerCase(), part, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
