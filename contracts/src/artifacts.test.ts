import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SOLIDITY_DIR, compileSources, listArtifacts, loadArtifact } from './artifacts.js';

describe('compiled contract artifacts', () => {
  it('are fresh: recompiling the Solidity sources gives exactly the committed artifacts', () => {
    const fresh = compileSources();
    assert.deepEqual(
      fresh.map((a) => a.contractName),
      listArtifacts(),
      'the set of artifacts matches the set of contracts (run npm run compile:contracts)',
    );
    for (const a of fresh) {
      const committed = loadArtifact(a.contractName);
      assert.equal(
        committed.sourceHash,
        a.sourceHash,
        `${a.contractName}: source changed since compile (npm run compile:contracts)`,
      );
      assert.equal(committed.bytecode, a.bytecode, `${a.contractName}: bytecode is stale`);
      assert.deepEqual(committed.abi, a.abi, `${a.contractName}: ABI is stale`);
    }
  });

  it('typed bindings carry the committed bytecode and ABI of every contract', () => {
    const generated = join(import.meta.dirname, 'generated', 'factories');
    const files = readdirSync(generated).filter((f) => f.endsWith('__factory.ts'));
    for (const name of listArtifacts()) {
      const file = files.find((f) => f === `${name}__factory.ts`);
      assert.ok(file, `${name}: no typed binding (run npm run compile:contracts)`);
      const src = readFileSync(join(generated, file), 'utf8');
      assert.ok(src.includes(loadArtifact(name).bytecode.slice(2, 2000)), `${name}: binding bytecode is stale`);
    }
  });

  it('detects a changed source (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sol-'));
    try {
      cpSync(SOLIDITY_DIR, dir, { recursive: true });
      const name = listArtifacts().find((n) => n === 'TesseraAnchor')!;
      const file = join(dir, `${name}.sol`);
      writeFileSync(file, readFileSync(file, 'utf8').replace('revert NotWriter();', 'revert NotAdmin();'));
      const changed = compileSources(dir).find((a) => a.contractName === name)!;
      assert.notEqual(changed.sourceHash, loadArtifact(name).sourceHash);
      assert.notEqual(changed.bytecode, loadArtifact(name).bytecode);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
