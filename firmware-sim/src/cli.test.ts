import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli, parseDuration, SCENARIO_NAMES } from './cli.js';
import { SCENARIOS } from './scenarios.js';

describe('sim CLI flags', () => {
  it('parses durations with units', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('45'), 45_000);
    assert.equal(parseDuration('1q'), undefined);
    assert.equal(parseDuration('-1s'), undefined);
  });

  it('reads the defaults and the flags', async () => {
    const r = await parseCli(['--devices', '1000', '--scenario', 'mixed', '--duration', '60s']);
    assert.ok(r.ok);
    assert.equal(r.value.devices, 1000);
    assert.equal(r.value.durationMs, 60_000);
    assert.equal(r.value.intervalMs, 5_000);
    assert.equal(r.value.out, '.sim');
    assert.equal(r.value.broker, 'mqtt://127.0.0.1:1884', 'the local stack by default');
  });

  it('lists every problem at once', async () => {
    const r = await parseCli([
      '--devices',
      '0',
      '--scenario',
      'honest=1,nope=2',
      '--duration',
      'soon',
      '--broker',
      'x',
    ]);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.problems.length, 4, r.problems.join('\n'));
      assert.ok(r.problems.some((p) => p.includes('--devices')));
      assert.ok(r.problems.some((p) => p.includes("unknown scenario 'nope'")));
      assert.ok(r.problems.some((p) => p.includes('--duration')));
      assert.ok(r.problems.some((p) => p.includes('--broker is not a URL')));
    }
  });

  it('refuses unknown flags and stray arguments', async () => {
    const r = await parseCli(['--devcies', '10']);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!, /unknown option '--devcies'/);
    assert.equal((await parseCli(['1000'])).ok, false);
  });

  it('names in --help the scenarios the simulator has', () => {
    assert.deepEqual([...SCENARIO_NAMES], [...SCENARIOS]);
  });
});
