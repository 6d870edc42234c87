import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ANVIL_FUNDER_KEY, ensureDeployed, makeProvider, Outbox, startAnvil } from '@tessera/contracts';
import express from 'express';
import { Wallet } from 'ethers';
import { startIssuerService } from './service.js';
import { issuerTestCore } from './testing/core.js';
import { openIssuerDatabase } from './store.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('issuer service mounted under a prefix, driven by the CLI', () => {
  it('creates the root admin, logs in with its wallet through the CLI, issues, and anchors the audit head', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-issuer-svc-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const chain = await startAnvil({});
    cleanups.push(() => chain.stop());
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    cleanups.push(() => provider.destroy());
    const addresses = await ensureDeployed({
      provider,
      deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
      chainId: chain.chainId,
      file: join(dataDir, 'deployments.json'),
      allowDeploy: true,
    });
    const ds = await openIssuerDatabase({ sqlitePath: join(dataDir, 'tessera.sqlite') });
    cleanups.push(() => ds.destroy());
    const outbox = new Outbox({
      dataSource: ds,
      signer: new Wallet(ANVIL_FUNDER_KEY, provider),
      provider,
      chainId: chain.chainId,
      receiptTimeoutMs: 120_000, // generous: a loaded CI machine, not a test of speed
    });

    // The outer app parses JSON first, as the stack's does; the issuer app must still work mounted under it.
    const outer = express();
    outer.use(express.json());
    const server: Server = outer.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/issuer`;

    const svc = await startIssuerService({
      config: { dataDir, publicBaseUrl: base },
      dataSource: ds,
      provider,
      chainId: chain.chainId,
      registryAddress: addresses.EthereumDIDRegistry,
      outbox,
      anchorAddress: addresses.TesseraAnchor,
      auth: async (i) => {
        const t = await issuerTestCore(i, { chainId: chain.chainId });
        cleanups.push(() => t.stop());
        return t.core;
      },
    });
    cleanups.push(() => svc.stop());
    assert.ok(svc.rootAdmin.created);
    outer.use('/issuer', svc.app);

    const cli = fileURLToPath(new URL('../../wallet/src/admin-cli.ts', import.meta.url));
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      cli,
      'login',
      '--wallet',
      svc.rootAdmin.file,
      '--url',
      base,
    ]);
    const token = stdout.trim();
    assert.match(
      token,
      /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
      'an access token (JWT) from the credential core',
    );

    const res = await fetch(`${base}/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'DataPartnerCredential',
        subject: `did:ethr:0x7a69:0x${'e5'.repeat(20)}`,
        claims: { organisationName: 'Grid Data Ltd', registrationId: 'HRB 1', dataspace: 'energy-ds' },
      }),
    });
    const body = (await res.json()) as { credentialStatus: { statusListCredential: string }[] };
    assert.equal(res.status, 201, JSON.stringify(body));
    const list = await fetch(body.credentialStatus[0]!.statusListCredential);
    assert.equal(list.status, 200, 'the status list URL in the credential resolves to the mounted app');

    const anchored = await svc.issuer.anchorAudit();
    assert.ok(anchored.ok);
    assert.ok((await svc.issuer.verifyAudit({ checkAnchor: true })).ok);
    const verify = await fetch(`${base}/audit/verify`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(verify.status, 200);
    assert.equal(((await verify.json()) as { head: { seq: number } }).head.seq >= anchored.value.seq, true);
  });
});
