import type { Outbox } from '@tessera/contracts';
import { type Logger, silentLogger } from '@tessera/protocol';
import type express from 'express';
import type { JsonRpcProvider } from 'ethers';
import type { DataSource } from 'typeorm';
import type { IssuerConfigInput } from './config.js';
import { buildIssuerApp, type IssuerHttpConfig } from './http/app.js';
import type { IssuerAuth } from './http/auth.js';
import { createDeviceLifecycle, type DeviceLifecycle } from './devices/lifecycle.js';
import { DbDeviceSecretVault, deviceVaultKey } from './devices/store.js';
import { buildIssuer, type Issuer } from './issuer.js';
import { loadSecretBoxKey } from './keys.js';
import { ensureRootAdmin } from './root-admin.js';

export interface IssuerServiceOptions {
  config: IssuerConfigInput;
  /** Opened with `issuerDatabaseParts` (plus `outboxDatabaseParts` when anchoring). */
  dataSource: DataSource;
  provider: JsonRpcProvider;
  chainId: number;
  registryAddress: string;
  outbox?: Outbox;
  anchorAddress?: string;
  /** Anchor the audit head every this many ms (needs outbox and anchorAddress); 0 = never. */
  anchorIntervalMs?: number;
  issuerPrivateKey?: string;
  /** DeviceRegistry address: with the outbox, enables the device lifecycle (/devices). */
  deviceRegistryAddress?: string;
  /** The MQTT URL written into device provisioning files. */
  deviceBrokerUrl?: string;
  /** True while the chain is known to be down: device writes are refused before anything is recorded. */
  chainDown?: () => boolean;
  http?: IssuerHttpConfig;
  /**
   * The credential core the issuer signs admins in with and guards its routes through, built once the issuer exists
   * (the core reads the issuer's status lists).
   */
  auth(issuer: Issuer): Promise<IssuerAuth> | IssuerAuth;
  log?: Logger;
}

export interface IssuerService {
  issuer: Issuer;
  /** Mount it where `config.publicBaseUrl` points (for example `/issuer`), so status list URLs resolve. */
  app: express.Express;
  rootAdmin: { file: string; did: string; created: boolean };
  /** The device lifecycle and its secret vault, when configured (`deviceRegistryAddress` and `outbox`). */
  devices?: DeviceLifecycle;
  stop(): Promise<void>;
}

/**
 * Everything the composition root needs for the issuer: the issuer itself, the root admin wallet on first start,
 * the HTTP app (not listening), and periodic anchoring of the audit head through the outbox.
 */
export async function startIssuerService(o: IssuerServiceOptions): Promise<IssuerService> {
  const log = o.log ?? silentLogger;
  const issuer = await buildIssuer(o.config, {
    dataSource: o.dataSource,
    provider: o.provider,
    chainId: o.chainId,
    registryAddress: o.registryAddress,
    ...(o.outbox && o.anchorAddress ? { outbox: o.outbox, anchorAddress: o.anchorAddress } : {}),
    ...(o.issuerPrivateKey ? { issuerPrivateKey: o.issuerPrivateKey } : {}),
  });
  const rootAdmin = await ensureRootAdmin(issuer, { dataDir: issuer.config.dataDir, chainId: o.chainId });
  if (rootAdmin.created) log.info({ wallet: rootAdmin.file, did: rootAdmin.did }, 'root admin wallet created');
  let devices: DeviceLifecycle | undefined;
  if (o.outbox && o.deviceRegistryAddress) {
    // Device secrets are sealed under a key derived from the issuer's secret-box key (kept outside the database).
    const key = deviceVaultKey(await loadSecretBoxKey(issuer.config.dataDir, issuer.config.secretBoxKey));
    devices = createDeviceLifecycle({
      issuer,
      dataSource: o.dataSource,
      vault: new DbDeviceSecretVault(o.dataSource, key),
      outbox: o.outbox,
      provider: o.provider,
      chainId: o.chainId,
      deviceRegistry: o.deviceRegistryAddress,
      ...(o.deviceBrokerUrl ? { brokerUrl: o.deviceBrokerUrl } : {}),
      ...(o.chainDown ? { chainDown: o.chainDown } : {}),
    });
    const roles = await devices.ensureRegistryRoles();
    if (!roles.ok) log.warn({ code: roles.error.code, reason: roles.error.message }, 'device registry roles missing');
    // a registration or commissioning a crash left between the chain and the database is finished first
    const reconciled = await devices.reconcile();
    if (reconciled.finished + reconciled.failed + reconciled.pending > 0)
      log.info(reconciled, 'device intents reconciled');
  }
  const app = buildIssuerApp(o.http ?? {}, {
    issuer,
    auth: await o.auth(issuer),
    logger: log,
    ...(devices ? { devices } : {}),
  });

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  if (o.outbox && o.anchorAddress && (o.anchorIntervalMs ?? 0) > 0) {
    const tick = () => {
      running = issuer
        .anchorAudit()
        .then((r) => {
          if (!r.ok) log.warn({ code: r.error.code, reason: r.error.message }, 'audit anchoring failed');
          else if (r.value.txHash) log.info({ seq: r.value.seq, tx: r.value.txHash }, 'audit head anchored');
        })
        .catch((e) => log.error({ err: e }, 'audit anchoring failed'));
    };
    timer = setInterval(tick, o.anchorIntervalMs);
    timer.unref();
  }
  return {
    issuer,
    app,
    rootAdmin,
    ...(devices ? { devices } : {}),
    async stop() {
      if (timer) clearInterval(timer);
      await running;
      issuer.events.removeAllListeners();
    },
  };
}
