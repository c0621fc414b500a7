/**
 * The panel's types (src/generated/openapi.ts) are generated from the server's OpenAPI
 * document (src/generated/openapi.json): both must be what the server and
 * openapi-typescript make today. `python` is the project's (its venv active).
 */
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';

const LABEXTENSION = path.resolve(__dirname, '..', '..');
const GENERATED = path.join(LABEXTENSION, 'src', 'generated');
const SCRIPT = path.join(LABEXTENSION, '..', 'scripts', 'openapi_document.py');
/**
 * What `openapi-typescript FILE` writes, by its programmatic API. It runs in a Node of its
 * own: openapi-typescript's dependencies are ES modules, which Jest's loader cannot require.
 */
const GENERATE = `
import { readFileSync } from 'node:fs';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
const schema = JSON.parse(readFileSync(process.argv[1], 'utf-8'));
process.stdout.write(COMMENT_HEADER + astToString(await openapiTS(schema, { silent: true })));
`;
const REGENERATE = 'run `jlpm generate:types` in labextension/ and commit src/generated/';

/** Throws, naming the first line that differs and what to run, unless the texts are equal. */
function expectSame(actual: string, committed: string, what: string): void {
  if (actual === committed) {
    return;
  }
  const got = actual.split('\n');
  const had = committed.split('\n');
  const line = got.findIndex((text, index) => text !== had[index]);
  const at = line === -1 ? had.length : line;
  throw new Error(
    `${what} is out of date: ${REGENERATE}.\n` +
      `First difference at line ${at + 1}:\n  committed: ${had[at] ?? '(end)'}\n` +
      `  now:       ${got[at] ?? '(end)'}`
  );
}

describe('the generated types', () => {
  const snapshot = readFileSync(path.join(GENERATED, 'openapi.json'), 'utf-8');

  it('come from the document the server builds now', () => {
    let built: string;
    try {
      built = execFileSync('python', [SCRIPT], { encoding: 'utf-8' });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`python ${SCRIPT} failed (is the project's venv active?): ${why}`);
    }
    expectSame(built, snapshot, 'src/generated/openapi.json');
  });

  it('are what openapi-typescript makes of that document', () => {
    const made = execFileSync(
      process.execPath,
      ['--input-type=module', '--eval', GENERATE, path.join(GENERATED, 'openapi.json')],
      { cwd: LABEXTENSION, encoding: 'utf-8' }
    );
    const committed = readFileSync(path.join(GENERATED, 'openapi.ts'), 'utf-8');
    expectSame(made, committed, 'src/generated/openapi.ts');
  });

  it('say which command brings them up to date, and where they differ', () => {
    expect(() => expectSame('a\nb\n', 'a\nb\n', 'x')).not.toThrow();
    expect(() => expectSame('a\nb\n', 'a\nc\n', 'x')).toThrow(
      'x is out of date: run `jlpm generate:types` in labextension/'
    );
    expect(() => expectSame('a\nb\n', 'a\nc\n', 'x')).toThrow(
      /line 2:\n +committed: c\n +now: +b$/
    );
  });
});
