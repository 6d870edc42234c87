import type { Outbox } from '@tessera/contracts';
import { type Logger, silentLogger } from '@tessera/protocol';
import type express from 'express';
import type { JsonRpcProvider } from 'ethers';
import type { DataSource } from 'typeorm';
import type { IssuerConfigInput } from './config.js';
import { buildIssuerApp, type IssuerHttpConfig } from './http/app.js';
import { buildIssuer, type Issuer } from './issuer.js';
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
  http?: IssuerHttpConfig;
  log?: Logger;
}

export interface IssuerService {
  issuer: Issuer;
  /** Mount it where `config.publicBaseUrl` points (for example `/issuer`), so status list URLs resolve. */
  app: express.Express;
  rootAdmin: { file: string; did: string; created: boolean };
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
  const app = buildIssuerApp(o.http ?? {}, { issuer, dataSource: o.dataSource, logger: log });

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
    async stop() {
      if (timer) clearInterval(timer);
      await running;
      issuer.events.removeAllListeners();
    },
  };
}
