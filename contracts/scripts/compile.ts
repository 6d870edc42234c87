/**
 * Compile the Solidity sources with the solc npm package and regenerate the committed artifacts and the
 * typed ethers-v6 bindings (TypeChain). Run with `npm run compile:contracts`; `artifacts.test.ts` fails when
 * the committed output is stale.
 */
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runTypeChain } from 'typechain';
import { ARTIFACTS_DIR, CONTRACTS_ROOT, compileSources } from '../src/artifacts.js';

const artifacts = compileSources();
rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
mkdirSync(ARTIFACTS_DIR, { recursive: true });
for (const a of artifacts) {
  writeFileSync(join(ARTIFACTS_DIR, `${a.contractName}.json`), `${JSON.stringify(a, null, 2)}\n`);
  console.log(`compiled ${a.contractName} (${(a.deployedBytecode.length - 2) / 2} bytes)`);
}

// The ERC-1056 registry is deployed from the artifact that ships in ethr-did-registry (DESIGN §4);
// its bindings are generated from that same artifact.
const require = createRequire(import.meta.url);
const registryDist = require.resolve('ethr-did-registry');
const registryArtifact = join(
  registryDist,
  '../../artifacts/contracts/EthereumDIDRegistry.sol/EthereumDIDRegistry.json',
);

const outDir = join(CONTRACTS_ROOT, 'src', 'generated');
rmSync(outDir, { recursive: true, force: true });
// TypeChain mirrors the input folder layout, so give it one flat folder of ABI files.
const flat = mkdtempSync(join(tmpdir(), 'tessera-abi-'));
for (const a of artifacts)
  copyFileSync(join(ARTIFACTS_DIR, `${a.contractName}.json`), join(flat, `${a.contractName}.json`));
copyFileSync(registryArtifact, join(flat, 'EthereumDIDRegistry.json'));
const files = [...artifacts.map((a) => `${a.contractName}.json`), 'EthereumDIDRegistry.json'].map((f) => join(flat, f));
const result = await runTypeChain({
  cwd: flat,
  filesToProcess: files,
  allFiles: files,
  outDir,
  target: 'ethers-v6',
  flags: { alwaysGenerateOverloads: false, discriminateTypes: false, environment: undefined, node16Modules: true },
});
rmSync(flat, { recursive: true, force: true });
console.log(`typechain: ${result.filesGenerated} files in ${outDir}`);
