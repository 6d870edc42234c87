import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandsOf, expectationOf, judge, markedBlocks, sampleRegExp, splitComment, startEnv } from './parse.js';

const md = [
  '# A walk-through',
  '',
  '```sh',
  'echo not marked',
  '```',
  '',
  '<!-- doc-test -->',
  '```sh',
  'X=$(echo hi)   # sets X',
  'echo "$X # not a comment" \\',
  '  there          # prints `hi # not a comment there`',
  'f() {  # a function spans lines',
  '  echo "$1"',
  '}',
  '',
  '# a comment line on its own is prose',
  'echo \'{"a":',
  "  1}'            # prints `1}`",
  'false            # error ERR_SOMETHING',
  '```',
].join('\n');

test('only marked shell blocks are read, with their line numbers', () => {
  const blocks = markedBlocks(md);
  assert.equal(blocks.length, 1);
  assert.equal(blocks[0]!.line, 8);
  assert.throws(() => markedBlocks('<!-- doc-test -->\n```js\nx\n```'), /must be a shell block/);
  assert.equal(markedBlocks('<!-- doc-test -->\nsome prose\n```sh\nx\n```').length, 0);
});

test('a command is the smallest run of lines bash reads as complete', () => {
  const cs = commandsOf(markedBlocks(md)[0]!);
  assert.deepEqual(
    cs.map((c) => c.line),
    [9, 10, 12, 17, 19],
  );
  assert.equal(cs[1]!.comment, 'prints `hi # not a comment there`');
  assert.deepEqual(cs[1]!.expect.prints, ['hi # not a comment there']);
  assert.equal(cs[4]!.expect.error, 'ERR_SOMETHING');
  assert.throws(() => commandsOf({ line: 1, text: 'echo "open' }), /ends inside a command/);
  assert.throws(() => commandsOf({ line: 1, text: 'fi' }), /line 2/);
});

test('comments: quote-aware, # only at the start of a word', () => {
  assert.deepEqual(splitComment(`echo a#b '#c' "#d" # e`), { code: `echo a#b '#c' "#d" `, comment: 'e' });
});

test('expectations: error ERR_X, and backticked samples after "prints"', () => {
  assert.deepEqual(expectationOf('a refusal: error <CODE> and exit 1'), { prints: [] });
  assert.deepEqual(expectationOf('again is ERR_X'), { prints: [] });
  assert.deepEqual(expectationOf('not its meter: error ERR_POLICY_DENIED'), {
    error: 'ERR_POLICY_DENIED',
    prints: [],
  });
  assert.deepEqual(expectationOf('`--yes` then prints `a …` and `b`'), { prints: ['a …', 'b'] });
});

test('samples: … is any text on a line, blanks any blanks', () => {
  assert.ok(sampleRegExp('Cred  active  expires …  issuer did:…').test('Cred active\texpires 2027  issuer did:x'));
  assert.ok(!sampleRegExp('a … b').test('a\nb'));
  assert.ok(sampleRegExp('1.5 (x)').test('1.5 (x)'));
  assert.ok(!sampleRegExp('1.5').test('105'));
});

test('judge: exit codes and comments', () => {
  const [ok, fails] = commandsOf({ line: 1, text: 'true  # prints `0 Wh`\nfalse  # error ERR_X' });
  assert.equal(judge(ok!, 0, 'total 0 Wh'), undefined);
  assert.match(judge(ok!, 0, 'total 1 Wh')!, /no `0 Wh`/);
  assert.match(judge(ok!, 2, 'total 0 Wh')!, /exit code 2/);
  assert.equal(judge(fails!, 1, 'error ERR_X: no'), undefined);
  assert.match(judge(fails!, 0, 'error ERR_X')!, /says it fails/);
  assert.match(judge(fails!, 1, 'error ERR_Y')!, /without ERR_X/);
});

test('the stack is started as the document says: VAR=value … npm start', () => {
  assert.deepEqual(startEnv(md), {});
  const doc = (line: string) => `<!-- doc-test start -->\n\`\`\`sh\n${line}\n\`\`\`\n`;
  assert.deepEqual(startEnv(doc('TESSERA_ENERGY_PERIOD_SECONDS=30 npm start   # 30 s periods')), {
    TESSERA_ENERGY_PERIOD_SECONDS: '30',
  });
  assert.deepEqual(startEnv(doc('npm start')), {});
  assert.throws(() => startEnv(doc('npm start && rm -rf x')), /one line/);
  assert.equal(markedBlocks(doc('npm start')).length, 0, 'the start block is not run as a walk-through block');
});
