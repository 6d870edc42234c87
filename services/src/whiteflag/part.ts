import {
  type ContractName,
  DeviceRegistry__factory,
  type Keystore,
  type Outbox,
  readDeviceStatus,
} from '@tessera/contracts';
import { ethrDid, type Logger } from '@tessera/protocol';
import type {
  BrokerAdapter,
  DeviceSecretVault,
  PolicyEngine,
  RequireCredentialsOptions,
  Verifier,
} from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import type { JsonRpcProvider } from 'ethers';
import type { RequestHandler, Router } from 'express';
import type { DataSource } from 'typeorm';
import { HostedKeyring } from '../exchange/hosted-keys.js';
import { type AccountFunding, WhiteflagAccounts } from './accounts.js';
import {
  httpStatementFetcher,
  type OriginatorToken,
  registryDeviceStatus,
  tesseraAuthenticator,
} from './authenticate.js';
import { buildWhiteflagRouter } from './http.js';
import { type ReceiverKeys, WhiteflagListener } from './listener.js';
import { WhiteflagBridge, type WhiteflagBridgeDeps } from './mqtt.js';
import { WhiteflagSender } from './sender.js';
import { WhiteflagStore } from './store.js';

/** Keystore prefix of the sending keys DIDs authorise as delegates (separate from the data exchange's). */
export const WHITEFLAG_HOSTED_KEY_PREFIX = 'wf-o-';

export interface WhiteflagPartConfig {
  /** Named pre-shared keys of encryption method 2 (at least 16 bytes each). */
  preSharedKeys?: Readonly<Record<string, Uint8Array>>;
  /** Origins method-1 statements are fetched from, besides this part's own. */
  statementOrigins?: readonly string[];
  /** Pre-shared authentication tokens of originators that are not devices (method 2). */
  tokens?: readonly OriginatorToken[];
  /** First block the listener reads when it has no cursor yet (default: the head at first start). */
  startBlock?: number;
  /** Blocks a message must be under before the listener reads it (0 on a local chain). */
  confirmations?: number;
  pollIntervalMs?: number;
  /** Fund the originators' accounts from the relayer (default on). */
  funding?: AccountFunding | false;
}

/** The narrow set of parts Whiteflag is built from (never the whole stack). */
export interface WhiteflagPartDeps {
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  chainId: number;
  keystore: Keystore;
  contracts: Pick<Record<ContractName, string>, 'EthereumDIDRegistry' | 'DeviceRegistry'>;
  /** DID resolution as on chain now (the event-invalidated CachedDidResolver). */
  resolver: Resolvable & { invalidateIdentity?(identity: string): void };
  /** Resolves once the resolver's registry watcher has processed this block (its `waitForBlock`). */
  registrySynced?(blockNumber: number): Promise<void>;
  /** The verifier's guard for HTTP routes. */
  guard(options: RequireCredentialsOptions): RequestHandler;
  /** The policies, for the MQTT signal topics. */
  policy: Pick<PolicyEngine, 'evaluate'>;
  /**
   * The MQTT broker devices are on, and the credential core that verifies their DeviceSessionCredentials (signature,
   * trusted issuer, validity, status); without them there is no bridge.
   */
  devices?: {
    broker: Pick<BrokerAdapter, 'subscribe' | 'publish'>;
    sessions: Pick<Verifier, 'verifyCredential'>;
  };
  /** Device pre-shared secrets (method 2 for devices). */
  vault?: DeviceSecretVault;
  /** DIDs whose own key the stack holds (its actors), by keystore name: they send without a delegation. */
  actorKeys?: ReadonlyMap<string, string>;
  /** Absolute URL this part's router is mounted at (statements are served under it). */
  publicUrl: string;
  config?: WhiteflagPartConfig;
  log: Logger;
  /** Told about every device signal the bridge sends or refuses (metrics, tests). */
  onSignal?: WhiteflagBridgeDeps['onOutcome'];
}

export interface WhiteflagPart {
  router: Router;
  store: WhiteflagStore;
  accounts: WhiteflagAccounts;
  sender: WhiteflagSender;
  listener: WhiteflagListener;
  bridge: WhiteflagBridge | undefined;
  stop(): Promise<void>;
}

/**
 * Whiteflag as a part of the stack (docs/whiteflag.md): the HTTP API behind the verifier's guard, the sending accounts
 * and the sender on the outbox, the listener that follows the chain into the database, and the MQTT bridge for
 * devices. Everything it needs comes through `deps`.
 */
export async function startWhiteflagPart(deps: WhiteflagPartDeps): Promise<WhiteflagPart> {
  const { config = {}, log } = deps;
  const store = new WhiteflagStore(deps.db);
  const statementBase = `${deps.publicUrl}/whiteflag/statements`;
  const accounts = new WhiteflagAccounts({
    store,
    keystore: deps.keystore,
    outbox: deps.outbox,
    provider: deps.provider,
    chainId: deps.chainId,
    statementBase,
    ...(deps.vault ? { vault: deps.vault } : {}),
    ...(config.funding !== undefined ? { funding: config.funding } : {}),
    log,
  });
  const loaded = await accounts.load();
  const psks = Object.entries(config.preSharedKeys ?? {}).map(([name, secret]) => ({ name, secret }));
  const keys: ReceiverKeys = { preShared: () => psks, ecdh: () => accounts.ecdhPrivateKeys() };
  const sender = new WhiteflagSender({ store, outbox: deps.outbox, accounts, keys, log });
  const registry = DeviceRegistry__factory.connect(deps.contracts.DeviceRegistry, deps.provider);
  const tokens = config.tokens ?? [];
  const listener = new WhiteflagListener({
    store,
    provider: deps.provider,
    keys,
    authenticator: tesseraAuthenticator({
      fetch: httpStatementFetcher({ allowedOrigins: [deps.publicUrl, ...(config.statementOrigins ?? [])] }),
      resolver: deps.resolver,
      chainId: deps.chainId,
      ...(deps.vault ? { vault: deps.vault } : {}),
      deviceStatus: registryDeviceStatus(registry),
      tokens: () => tokens,
    }),
    ...(config.startBlock !== undefined ? { startBlock: config.startBlock } : {}),
    ...(config.confirmations !== undefined ? { confirmations: config.confirmations } : {}),
    ...(config.pollIntervalMs !== undefined ? { pollIntervalMs: config.pollIntervalMs } : {}),
    onMessage: (row, message) => bridge?.deliver(row, message),
    ...(deps.registrySynced ? { registrySynced: deps.registrySynced } : {}),
    log,
  });
  const keyring = new HostedKeyring({
    keystore: deps.keystore,
    outbox: deps.outbox,
    provider: deps.provider,
    registry: deps.contracts.EthereumDIDRegistry,
    keyPrefix: WHITEFLAG_HOSTED_KEY_PREFIX,
    ...(deps.resolver.invalidateIdentity
      ? { invalidate: (identity: string) => deps.resolver.invalidateIdentity!(identity) }
      : {}),
  });

  let bridge: WhiteflagBridge | undefined;
  if (deps.devices) {
    bridge = new WhiteflagBridge({
      broker: deps.devices.broker,
      sessions: deps.devices.sessions,
      policy: deps.policy,
      accounts,
      sender,
      store,
      log,
      ...(deps.onSignal ? { onOutcome: deps.onSignal } : {}),
    });
    await bridge.start();
  }

  const router = buildWhiteflagRouter({
    guard: deps.guard,
    store,
    accounts,
    sender,
    keyring,
    ...(deps.actorKeys ? { actorKeys: deps.actorKeys } : {}),
    deviceDid: async (deviceId) => {
      const s = await readDeviceStatus(registry, deviceId);
      return s.identity ? ethrDid(deps.chainId, s.identity) : undefined;
    },
    publicUrl: deps.publicUrl,
    log,
  });

  const resumed = await sender.resume();
  await listener.start();
  log.info({ accounts: loaded, resumed }, 'whiteflag started');
  return {
    router,
    store,
    accounts,
    sender,
    listener,
    bridge,
    stop: () => listener.stop(),
  };
}
