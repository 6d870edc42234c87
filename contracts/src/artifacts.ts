import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A compiled contract as committed under `contracts/artifacts/`. */
export interface Artifact {
  contractName: string;
  sourceName: string;
  /** sha256 of the Solidity source it was compiled from: the staleness check compares this first. */
  sourceHash: string;
  compiler: string;
  abi: readonly unknown[];
  bytecode: string;
  deployedBytecode: string;
}

const here = dirname(fileURLToPath(import.meta.url));
export const CONTRACTS_ROOT = join(here, '..');
export const SOLIDITY_DIR = join(CONTRACTS_ROOT, 'solidity');
export const ARTIFACTS_DIR = join(CONTRACTS_ROOT, 'artifacts');

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The solc npm package, loaded on first use: it is megabytes of compiler that only `compile:contracts` and the
 * staleness test need, and every process importing this package (the stack, the CLIs) would otherwise parse it and
 * keep it on its heap.
 */
type Solc = { compile(input: string): string; version(): string };
let solcModule: Solc | undefined;
const loadSolc = (): Solc => {
  solcModule ??= createRequire(import.meta.url)('solc') as Solc;
  return solcModule;
};

/** Compile every `solidity/*.sol` with the solc npm package (wasm; nothing is downloaded). */
export function compileSources(dir = SOLIDITY_DIR): Artifact[] {
  const solc = loadSolc();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sol'))
    .sort();
  const sources: Record<string, { content: string }> = {};
  for (const f of files) sources[f] = { content: readFileSync(join(dir, f), 'utf8') };
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<
      string,
      Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
    >;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  const artifacts: Artifact[] = [];
  for (const [sourceName, contracts] of Object.entries(output.contracts)) {
    for (const [contractName, c] of Object.entries(contracts)) {
      if (c.evm.bytecode.object.length === 0) continue; // interfaces and abstract contracts
      artifacts.push({
        contractName,
        sourceName,
        sourceHash: sha256(sources[sourceName]!.content),
        compiler: solc.version(),
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      });
    }
  }
  return artifacts.sort((a, b) => a.contractName.localeCompare(b.contractName));
}

/** Read a committed artifact by contract name. */
export function loadArtifact(contractName: string): Artifact {
  return JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${contractName}.json`), 'utf8')) as Artifact;
}

export function listArtifacts(): string[] {
  return readdirSync(ARTIFACTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}
