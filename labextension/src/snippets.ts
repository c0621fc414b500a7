/**
 * "Copy as curl" and "Copy as Python": the same request the panel sends, for a terminal
 * or a script. The token is a placeholder read from the environment (JUPYTER_TOKEN).
 */

/** The curl command streaming `body` from `url` (-N: print events as they arrive). */
export function curlCommand(url: string, body: Record<string, unknown>): string {
  return [
    '# export JUPYTER_TOKEN=<your Jupyter token>   (jupyter server list shows it)',
    'curl -N -X POST \\',
    '  -H "Authorization: token $JUPYTER_TOKEN" \\',
    "  -H 'Content-Type: application/json' \\",
    `  -d ${shellQuote(JSON.stringify(body))} \\`,
    `  ${shellQuote(url)}`
  ].join('\n');
}

/** A standard-library Python script streaming `body` from `url`, printing each event. */
export function pythonSnippet(url: string, body: Record<string, unknown>): string {
  return [
    'import json',
    'import os',
    'import urllib.request',
    '',
    `url = ${pyLiteral(url)}`,
    'token = os.environ.get("JUPYTER_TOKEN", "<your Jupyter token>")',
    `inputs = ${pyLiteral(body)}`,
    'request = urllib.request.Request(',
    '    url,',
    '    data=json.dumps(inputs).encode(),',
    '    headers={"Authorization": f"token {token}", "Content-Type": "application/json"},',
    ')',
    'with urllib.request.urlopen(request) as response:',
    '    for line in response:',
    '        if line.startswith(b"data:"):',
    '            event = json.loads(line[5:])',
    '            if "error" in event:',
    '                raise RuntimeError(event["error"])',
    '            print(event, flush=True)',
    ''
  ].join('\n');
}

/** Single-quote for POSIX shells: 'it'\''s'. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** A JSON value as a Python literal (JSON strings are valid Python strings). */
export function pyLiteral(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : `float(${JSON.stringify(String(value))})`;
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(pyLiteral).join(', ')}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pyLiteral(v)}`).join(', ')}}`;
}
