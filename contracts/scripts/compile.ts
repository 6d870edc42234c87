/**
 * Compile the Solidity sources with the solc npm package and regenerate the committed artifacts and the
 * typed ethers-v6 bindings (TypeChain). Run with `npm run compile:contracts`; `artifacts.test.ts` fails when
 * the committed output is stale.
 *
 * Output is produced in a temporary folder and then synchronised into place (changed files rewritten, stale ones
 * removed last), so the committed folders are never empty half-way, even while another compile runs.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runTypeChain } from 'typechain';
import { ARTIFACTS_DIR, CONTRACTS_ROOT, compileSources } from '../src/artifacts.js';

const listFiles = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir).flatMap((name) => {
        const p = join(dir, name);
        return statSync(p).isDirectory() ? listFiles(p) : [p];
      })
    : [];

/** Make `target` hold exactly the files of `source`, touching only what differs. */
function syncDir(source: string, target: string): void {
  const wanted = new Set(listFiles(source).map((p) => relative(source, p)));
  for (const rel of wanted) {
    const from = join(source, rel);
    const to = join(target, rel);
    const content = readFileSync(from);
    if (existsSync(to) && readFileSync(to).equals(content)) continue;
    mkdirSync(join(to, '..'), { recursive: true });
    writeFileSync(to, content);
  }
  for (const p of listFiles(target)) if (!wanted.has(relative(target, p))) rmSync(p);
}

const work = mkdtempSync(join(tmpdir(), 'tessera-compile-'));
try {
  const artifacts = compileSources();
  const artifactsOut = join(work, 'artifacts');
  mkdirSync(artifactsOut);
  for (const a of artifacts) {
    writeFileSync(join(artifactsOut, `${a.contractName}.json`), `${JSON.stringify(a, null, 2)}\n`);
    console.log(`compiled ${a.contractName} (${(a.deployedBytecode.length - 2) / 2} bytes)`);
  }

  // The ERC-1056 registry is deployed from the artifact that ships in ethr-did-registry;
  // its bindings are generated from that same artifact.
  const require = createRequire(import.meta.url);
  const registryArtifact = join(
    require.resolve('ethr-did-registry'),
    '../../artifacts/contracts/EthereumDIDRegistry.sol/EthereumDIDRegistry.json',
  );
  // TypeChain mirrors the input folder layout, so give it one flat folder of ABI files.
  const flat = join(work, 'abi');
  mkdirSync(flat);
  for (const a of artifacts)
    copyFileSync(join(artifactsOut, `${a.contractName}.json`), join(flat, `${a.contractName}.json`));
  copyFileSync(registryArtifact, join(flat, 'EthereumDIDRegistry.json'));
  const files = [...artifacts.map((a) => `${a.contractName}.json`), 'EthereumDIDRegistry.json'].map((f) =>
    join(flat, f),
  );
  const generatedOut = join(work, 'generated');
  const result = await runTypeChain({
    cwd: flat,
    filesToProcess: files,
    allFiles: files,
    outDir: generatedOut,
    target: 'ethers-v6',
    flags: { alwaysGenerateOverloads: false, discriminateTypes: false, environment: undefined, node16Modules: true },
  });
  syncDir(artifactsOut, ARTIFACTS_DIR);
  syncDir(generatedOut, join(CONTRACTS_ROOT, 'src', 'generated'));
  console.log(`typechain: ${result.filesGenerated} files in contracts/src/generated`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
