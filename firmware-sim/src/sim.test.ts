import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChainProvisioner, startInProcessStack } from '@tessera/stack';
import { generateDevices } from './devices.js';
import { seededRng } from './rng.js';
import { assignScenarios, MIXED, parseScenarioMix, SCENARIOS } from './scenarios.js';
import { latencyChartSvg } from './report.js';
import { simulate } from './simulate.js';

describe('firmware-sim', () => {
  it('generates varied, unique, reproducible devices from a seed', () => {
    const a = generateDevices(seededRng('s'), 200);
    const b = generateDevices(seededRng('s'), 200);
    assert.deepEqual(a, b);
    assert.equal(new Set(a.map((d) => d.characteristics.serial)).size, 200);
    assert.equal(new Set(a.map((d) => d.characteristics.mac)).size, 200);
    assert.equal(new Set(a.map((d) => d.fingerprint)).size, 200);
    assert.ok(new Set(a.map((d) => d.characteristics.model)).size >= 4);
    assert.ok(new Set(a.map((d) => d.characteristics.firmwareHash)).size >= 8);
    assert.notDeepEqual(generateDevices(seededRng('t'), 5), a.slice(0, 5));
  });

  it('assigns scenarios in exact proportions and parses mixes', () => {
    const s = assignScenarios({ honest: 3, clone: 1 }, 40, seededRng(1));
    assert.equal(s.filter((x) => x === 'honest').length, 30);
    assert.equal(s.filter((x) => x === 'clone').length, 10);
    const m = assignScenarios(MIXED, 24, seededRng(2));
    assert.equal(m.length, 24);
    for (const k of SCENARIOS) assert.ok(m.includes(k), `${k} present`);
    assert.deepEqual(parseScenarioMix('replay'), { ok: true, value: { replay: 1 } });
    assert.equal(parseScenarioMix('honest=2,bogus=1').ok, false);
    assert.equal(parseScenarioMix('honest=-1').ok, false);
  });

  it('on a mixed fleet (anvil + aedes + handshake service), never accepts an attacker and accepts every honest device', async () => {
    const stack = await startInProcessStack();
    after(() => stack.stop());
    const report = await simulate({
      devices: 24,
      mix: MIXED,
      durationMs: 12_000,
      intervalMs: 1_500,
      seed: 'unit',
      target: { brokerUrl: stack.brokerUrl, provisioner: new ChainProvisioner(stack), kind: 'in-process' },
    });
    const by = Object.fromEntries(report.scenarios.map((s) => [s.scenario, s]));
    for (const s of SCENARIOS) assert.ok(by[s], `scenario ${s} ran`);
    // Attackers: attempts were made, and none accepted.
    for (const s of ['wrong-secret', 'clone', 'replay'] as const) {
      assert.ok(by[s]!.attempts >= by[s]!.devices, `${s} attempted`);
      assert.ok(by[s]!.refused > 0, `${s} refused`);
      assert.equal(by[s]!.accepted, 0, `${s}: no attempt accepted`);
    }
    // Revoked devices: accepted before, never after the revocation.
    const revoked = report.attempts.filter((a) => a.scenario === 'revoked-mid-run');
    assert.ok(
      revoked.some((a) => a.expect === 'refuse'),
      'attempts after the revocation',
    );
    assert.ok(revoked.filter((a) => a.expect === 'refuse').every((a) => a.outcome === 'refused'));
    assert.ok((report.revokeToDisconnectMs?.count ?? 0) > 0, 'the revoked sessions were dropped');
    // Firmware update: the old image refused, the new one accepted.
    const fw = report.attempts.filter((a) => a.scenario === 'firmware-update-mid-run');
    assert.ok(fw.some((a) => a.step === 'stale-firmware' && a.outcome === 'refused'));
    // Honest kinds: every device accepted, no attempt refused.
    for (const s of ['honest', 'clock-drift', 'flapping', 'firmware-update-mid-run', 'revoked-mid-run'] as const) {
      assert.equal(by[s]!.honestNeverAccepted, 0, `${s}: every device accepted`);
      assert.equal(by[s]!.wronglyRefused, 0, `${s}: nothing refused that should pass`);
    }
    assert.equal(report.totals.wronglyAccepted, 0);
    assert.deepEqual(report.verdict, { attackersNeverAccepted: true, honestAllAccepted: true, ok: true });
    // the latency chart: labelled axes in seconds and milliseconds, every scenario in the legend
    const svg = await latencyChartSvg(report);
    for (const label of ['time since the start of the run (s)', 'handshake latency (ms, log scale)', 'p99 per slice'])
      assert.ok(svg.includes(label), `the chart says ${label}`);
    for (const s of SCENARIOS) assert.ok(svg.includes(`>${s}<`), `${s} in the legend`);
  });
});
