/**
 * The package boundaries, enforced by `npm run lint` (dependency-cruiser). Each top-level folder is one package; this
 * table says which others it may import (its public entry or a declared subpath export only, never another package's
 * internals), and test code may also use the clients (the wallet, the device agent) and start a real stack.
 * `scripts/boundaries.test.ts` holds the check to a fixture with bad imports and to the tree.
 */
const fs = require('node:fs');
const path = require('node:path');

/** package folder → the packages its source may import. */
const LAYERS = {
  protocol: [],
  runtime: ['protocol'],
  contracts: ['protocol', 'runtime'],
  verifier: ['protocol', 'runtime', 'contracts'],
  issuer: ['protocol', 'runtime', 'contracts', 'verifier'],
  wallet: ['protocol', 'runtime'],
  'device-agent': ['protocol', 'runtime'],
  'firmware-sim': ['protocol', 'runtime', 'device-agent', 'wallet'],
  services: ['protocol', 'runtime', 'contracts', 'verifier'],
  stack: ['protocol', 'runtime', 'contracts', 'verifier', 'issuer', 'services', 'wallet', 'device-agent'],
  console: ['protocol'],
};
/** What tests, suites, benches and test helpers may use besides their package's layer. */
const TEST_EXTRA = ['wallet', 'device-agent', 'issuer', 'stack'];
const TEST_FILE = '(\\.test\\.ts$|-suite\\.ts$|\\.suite\\.ts$|/testing(/|\\.ts$)|/test-env\\.ts$|^[^/]+/bench/)';

const root = process.env.TESSERA_BOUNDARY_ROOT ?? __dirname;
const packages = Object.keys(LAYERS).filter((p) => fs.existsSync(path.join(root, p, 'package.json')));

/** The files a package exports (its package.json `exports` targets), as path regexes relative to the root. */
function entries(pkg) {
  const json = JSON.parse(fs.readFileSync(path.join(root, pkg, 'package.json'), 'utf8'));
  const targets = Object.values(json.exports ?? {}).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  return targets.map((t) => `^${pkg}/${t.replace(/^\.\//, '').replace(/\./g, '\\.')}$`);
}

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'A cycle between modules makes their order of evaluation and their layering unclear.',
    from: {},
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  {
    name: 'not-to-undeclared-dependency',
    severity: 'error',
    comment: 'Every package declares what it imports in its own package.json.',
    from: { path: `^(${packages.join('|')})/` },
    to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
  },
  {
    name: 'protocol-is-pure',
    severity: 'error',
    comment: 'protocol/ is the pure shared contract: no I/O, no workers, no native code (crypto and zlib compute).',
    from: { path: '^protocol/', pathNot: TEST_FILE },
    to: { dependencyTypes: ['core'], pathNot: '^(node:)?(crypto|buffer|zlib)$' },
  },
];
for (const pkg of packages) {
  const others = packages.filter((p) => p !== pkg);
  const allowed = LAYERS[pkg];
  const denied = others.filter((p) => !allowed.includes(p));
  const deniedInTests = denied.filter((p) => !TEST_EXTRA.includes(p));
  if (denied.length > 0) {
    forbidden.push({
      name: `layering-${pkg}`,
      severity: 'error',
      comment: `${pkg}/ may import only ${allowed.join(', ') || 'nothing of ours'} (the layering in .dependency-cruiser.cjs)`,
      from: { path: `^${pkg}/`, pathNot: TEST_FILE },
      to: { path: `^(${denied.join('|')})/` },
    });
  }
  if (deniedInTests.length > 0) {
    forbidden.push({
      name: `layering-${pkg}-tests`,
      severity: 'error',
      comment: `tests of ${pkg}/ may import only ${[...allowed, ...TEST_EXTRA].join(', ')}`,
      from: { path: `^${pkg}/.*${TEST_FILE}` },
      to: { path: `^(${deniedInTests.join('|')})/` },
    });
  }
  for (const other of others) {
    forbidden.push({
      name: `public-entry-${other}`,
      severity: 'error',
      comment: `outside ${other}/, only its declared exports may be imported (package.json "exports"), not its internals`,
      from: { path: `^${pkg}/` },
      to: { path: `^${other}/`, pathNot: entries(other).join('|') },
    });
  }
}

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|generated|fixture)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    tsConfig: { fileName: path.join(root, 'tsconfig.json') },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    baseDir: root,
  },
};
