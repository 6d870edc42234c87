import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type AnvilChain, makeProvider, startAnvil } from '@tessera/contracts';
import { CachedDidResolver } from '@tessera/verifier';

const MAIN = join(import.meta.dirname, 'main.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];
const chains: AnvilChain[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const c of chains) await c.stop();
  // an anvil orphaned by a SIGKILL test is stopped through its pid file
  for (const d of dirs) {
    const pidFile = join(d, 'chain', 'anvil.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
        while (process.kill(pid, 0)) await new Promise((r) => setTimeout(r, 20));
      } catch {}
    }
    rmSync(d, { recursive: true, force: true, maxRetries: 5 });
  }
});

interface Started {
  child: ChildProcess;
  http: string;
  chain: string;
  mqtt: string;
  out: () => string;
  err: () => string;
}

function run(env: Record<string, string>): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, TESSERA_LOG_LEVEL: 'warn', TESSERA_MQTT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function start(dataDir: string, env: Record<string, string> = {}): Promise<Started> {
  const p = run({ TESSERA_DATA_DIR: dataDir, TESSERA_HTTP_PORT: '0', ...env });
  const deadline = Date.now() + 60_000;
  while (!/ready/.test(p.out())) {
    if (p.child.exitCode !== null) throw new Error(`stack exited: ${p.err()}`);
    if (Date.now() > deadline) throw new Error(`no ready line: ${p.out()} ${p.err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const line = p
    .out()
    .split('\n')
    .find((l) => l.includes('ready'))!;
  return {
    child: p.child,
    http: /http (http:\/\/\S+)/.exec(line)![1]!,
    chain: /chain (http:\/\/\S+)/.exec(line)![1]!,
    mqtt: /mqtt (mqtt:\/\/\S+)/.exec(line)![1]!,
    out: p.out,
    err: p.err,
  };
}

const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-stack-'));
  dirs.push(d);
  return d;
};

async function health(http: string) {
  const res = await fetch(`${http}/healthz`);
  return {
    status: res.status,
    body: (await res.json()) as { ok: boolean; parts: Record<string, Record<string, unknown>> },
  };
}

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

  it('keeps every file and directory of the data directory private (0600/0700), SQLite and anvil files included', async (t) => {
    const dir = tmp();
    // what an older version left behind, readable by everyone
    mkdirSync(join(dir, 'old'), { mode: 0o755 });
    writeFileSync(join(dir, 'old', 'notes.txt'), 'x', { mode: 0o644 });
    const s = await start(dir);
    // anvil writes its state file every second: wait for it to exist, then look at everything
    const state = join(dir, 'chain', 'anvil-state.json');
    for (let i = 0; i < 200 && !existsSync(state); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(state), 'anvil wrote its state');
    const entries: { path: string; dir: boolean; mode: number }[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = lstatSync(p);
        entries.push({ path: p.slice(dir.length + 1), dir: st.isDirectory(), mode: st.mode & 0o777 });
        if (st.isDirectory()) walk(p);
      }
    };
    walk(dir);
    for (const want of ['tessera.sqlite', 'tessera.sqlite-wal', 'deployments.json', 'chain/anvil.pid'])
      assert.ok(
        entries.some((e) => e.path === want),
        `${want} is there (${entries.map((e) => e.path).join(', ')})`,
      );
    const open = entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600));
    t.diagnostic(
      `data directory: ${entries.filter((e) => !e.dir).length} files, ${entries.filter((e) => e.dir).length} directories checked; not private: ${open.length}`,
    );
    assert.deepEqual(
      open.map((e) => `${e.path} ${e.mode.toString(8)}`),
      [],
    );
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    s.child.kill('SIGINT');
    await new Promise((r) => s.child.once('exit', r));
  });

  it('refuses an MQTT CONNECT announcing 256 MB by its header, logs it and counts it in /metrics', async () => {
    const s = await start(tmp());
    const { hostname, port } = new URL(s.mqtt);
    const sock = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => {});
    // CONNECT, remaining length 0xff 0xff 0xff 0x7f = 268,435,455 bytes (MQTT's largest), then junk never to be read
    sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    sock.write(Buffer.alloc(64 * 1024, 0x41));
    await closed;
    const metrics = await (await fetch(`${s.http}/metrics`)).text();
    assert.match(metrics, /tessera_mqtt_packets_refused_total\{phase="before_connect"\} 1\b/);
    assert.match(metrics, /tessera_mqtt_packets_refused_total\{phase="after_connect"\} 0\b/);
    for (let i = 0; i < 100 && !s.err().includes('mqtt_packet_refused'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const line = s
      .err()
      .split('\n')
      .find((l) => l.includes('mqtt_packet_refused'));
    assert.ok(line, 'a structured warning');
    const logged = JSON.parse(line) as Record<string, unknown>;
    assert.equal(logged.code, 'ERR_MQTT_PACKET_TOO_LARGE');
    assert.equal(logged.phase, 'before_connect');
    assert.equal(logged.declaredBytes, 1 + 4 + 268_435_455);
    s.child.kill('SIGINT');
    await new Promise((r) => s.child.once('exit', r));
  });

  it('a port in use is a one-line error naming the variable to change', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const p = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: String(port) });
    assert.equal(await p.exit, 1);
    const lines = p
      .err()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /ERR_PORT_IN_USE.*TESSERA_HTTP_PORT/);

    // the embedded MQTT broker's port likewise
    const mqtt = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: '0', TESSERA_MQTT_PORT: String(port) });
    assert.equal(await mqtt.exit, 1);
    const mqttLines = mqtt
      .err()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error'));
    assert.equal(mqttLines.length, 1);
    assert.match(mqttLines[0]!, /ERR_PORT_IN_USE.*TESSERA_MQTT_PORT/);
    blocker.close();
  });

  it('invalid configuration lists every problem with its variable', async () => {
    const p = run({
      TESSERA_DATA_DIR: tmp(),
      TESSERA_HTTP_PORT: 'eighty',
      TESSERA_CHAIN_RPC_URL: 'ftp://x',
      TESSERA_MASTER_KEY: 'short',
    });
    assert.equal(await p.exit, 1);
    assert.match(p.err(), /ERR_CONFIG_INVALID/);
    for (const v of ['TESSERA_HTTP_PORT', 'TESSERA_CHAIN_RPC_URL', 'TESSERA_MASTER_KEY'])
      assert.match(p.err(), new RegExp(v));
    assert.doesNotMatch(p.err(), /short/, 'a secret value is never echoed');
  });

  it('an unreachable external chain is ERR_CHAIN_UNREACHABLE, and a chain without the registry ERR_CHAIN_NO_REGISTRY', async () => {
    const unreachable = run({
      TESSERA_DATA_DIR: tmp(),
      TESSERA_HTTP_PORT: '0',
      TESSERA_CHAIN_RPC_URL: 'http://127.0.0.1:1',
    });
    assert.equal(await unreachable.exit, 1);
    assert.match(unreachable.err(), /ERR_CHAIN_UNREACHABLE/);

    const empty = await startAnvil({});
    chains.push(empty);
    const noRegistry = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: '0', TESSERA_CHAIN_RPC_URL: empty.rpcUrl });
    assert.equal(await noRegistry.exit, 1);
    assert.match(noRegistry.err(), /ERR_CHAIN_NO_REGISTRY/);
  });
});
