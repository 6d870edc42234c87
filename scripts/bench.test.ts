import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { haproxyBinary } from '../stack/src/cluster.js';

const root = fileURLToPath(new URL('..', import.meta.url));

it('a bench that cannot run here says what to install and exits with 3, not a stack trace', (t) => {
  if (haproxyBinary()) return t.skip('HAProxy is installed here: the cluster bench would run');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', 'cluster'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /^SKIPPED \(cluster\): HAProxy is not installed \(apt-get install haproxy\)/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(existsSync(`${root}.bench/cluster.skipped`));
  assert.match(readFileSync(`${root}.bench/cluster.skipped`, 'utf8'), /HAProxy is not installed/);
});
