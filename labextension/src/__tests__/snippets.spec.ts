import { curlCommand, pyLiteral, pythonSnippet, shellQuote } from '../snippets';

const URL = 'http://127.0.0.1:8888/base/inferless/v2/models/echo/generate_stream';

describe('snippets', () => {
  it('curl streams the body to the URL with a token placeholder', () => {
    const curl = curlCommand(URL, { prompt: "it's", count: 3 });
    expect(curl).toContain('curl -N -X POST');
    expect(curl).toContain('-H "Authorization: token $JUPYTER_TOKEN"');
    expect(curl).toContain(`-d '{"prompt":"it'\\''s","count":3}'`);
    expect(curl.trim().endsWith(`'${URL}'`)).toBe(true);
  });

  it('Python uses the URL, the environment token and the inputs', () => {
    const python = pythonSnippet(URL, { prompt: 'a', shout: true, none: null });
    expect(python).toContain(`url = "${URL}"`);
    expect(python).toContain('os.environ.get("JUPYTER_TOKEN"');
    expect(python).toContain('inputs = {"prompt": "a", "shout": True, "none": None}');
  });

  it.each([
    ['plain', "'plain'"],
    ["it's", "'it'\\''s'"],
    ['$HOME `x`', "'$HOME `x`'"]
  ])('shellQuote(%p)', (text, quoted) => {
    expect(shellQuote(text)).toBe(quoted);
  });

  it.each([
    [1.5, '1.5'],
    [false, 'False'],
    ['line\n"q"', '"line\\n\\"q\\""'],
    [[1, 'a', [true]], '[1, "a", [True]]'],
    [{ a: { b: null } }, '{"a": {"b": None}}']
  ])('pyLiteral(%p)', (value, literal) => {
    expect(pyLiteral(value)).toBe(literal);
  });
});
