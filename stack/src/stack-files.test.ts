import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stackProcesses } from './testing/stack-process.js';

const { start, tmp } = stackProcesses();

describe('npm start: the data directory and the broker at their limits', () => {
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
});
