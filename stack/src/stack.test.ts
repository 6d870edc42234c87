import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeProvider } from '@tessera/contracts';
import { CachedDidResolver } from '@tessera/verifier';
import { stackProcesses } from './testing/stack-process.js';

const { start, tmp, health } = stackProcesses();

describe('npm start (the composition root)', () => {
  it('reaches ready, reports every part healthy, and keeps DIDs and addresses across a SIGKILL and a clean restart', async () => {
    const dir = tmp();
    // the DIDs' service endpoints are anchored against the public URL; keep it fixed while the port varies
    const env = { TESSERA_PUBLIC_URL: 'http://tessera.test:8080' };
    const first = await start(dir, env);
    const h1 = await health(first.http);
    assert.equal(h1.status, 200);
    assert.equal(h1.body.ok, true);
    for (const part of ['chain', 'database', 'outbox', 'resolver', 'contracts', 'identities', 'mqtt']) {
      assert.equal(h1.body.parts[part]?.ok, true, part);
    }
    const { contracts, identities } = h1.body.parts;
    // the issuer is mounted, described by OpenAPI, and its root admin wallet is private to the user
    const spec = (await (await fetch(`${first.http}/issuer/openapi.json`)).json()) as { openapi: string };
    assert.match(spec.openapi, /^3\.1/);
    // the Idempotency-Key header is documented on exactly the routes that honour it
    const merged = (await (await fetch(`${first.http}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    };
    const withKey = Object.entries(merged.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.parameters?.some((x) => x.in === 'header' && x.name === 'Idempotency-Key'))
        .map(([m]) => `${m} ${p}`),
    );
    assert.deepEqual(withKey.sort(), ['post /issuer/devices/batches', 'post /issuer/devices/{id}/commission']);
    assert.equal(statSync(join(dir, 'root-admin-wallet.json')).mode & 0o777, 0o600);
    assert.match(first.out(), /root admin wallet .*root-admin-wallet\.json/);
    assert.match(String(identities!.issuer), /^did:ethr:0x7a69:0x[0-9a-f]{40}$/);
    // every write the first start queued (identities, the grid float, the attester) has settled, so a later count
    // can only grow by a repeated write
    let settled = h1;
    for (
      let i = 0;
      i < 100 &&
      (Number(settled.body.parts.outbox!.pending ?? 0) > 0 || Number(settled.body.parts.outbox!.signed ?? 0) > 0);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 200));
      settled = await health(first.http);
    }
    const minedBefore = settled.body.parts.outbox!.mined;
    await new Promise((r) => setTimeout(r, 1200)); // anvil persists its state every second

    first.child.kill('SIGKILL'); // no handler runs; anvil is orphaned and must be recovered
    await new Promise((r) => first.child.once('exit', r));

    const second = await start(dir, env);
    const h2 = await health(second.http);
    assert.equal(h2.body.ok, true);
    assert.deepEqual(h2.body.parts.contracts, contracts, 'no redeployment');
    assert.deepEqual(h2.body.parts.identities, identities, 'same DIDs');
    assert.equal(h2.body.parts.outbox!.mined, minedBefore, 'no identity write repeated');

    // the DIDs are on chain: their service endpoints resolve from the restarted chain
    const provider = makeProvider(second.chain, 31337);
    const resolver = new CachedDidResolver({
      chainId: 31337,
      provider,
      registry: String(contracts!.EthereumDIDRegistry),
    });
    const doc = await resolver.resolveDocument(String(identities!.issuer));
    assert.ok(doc.ok);
    assert.ok(
      doc.value.service?.some((s) => s.type === 'TesseraIssuer'),
      'issuer service endpoint anchored on chain',
    );
    provider.destroy();

    const pid = Number(readFileSync(join(dir, 'chain', 'anvil.pid'), 'utf8'));
    second.child.kill('SIGINT');
    const code = await new Promise((r) => second.child.once('exit', r));
    assert.equal(code, 0);
    assert.match(second.out(), /stopped/);
    assert.throws(() => process.kill(pid, 0), 'anvil is stopped with the stack');

    const third = await start(dir, env);
    const h3 = await health(third.http);
    assert.deepEqual(h3.body.parts.identities, identities);
    assert.deepEqual(h3.body.parts.contracts, contracts);
    third.child.kill('SIGINT');
    await new Promise((r) => third.child.once('exit', r));
  });
});
