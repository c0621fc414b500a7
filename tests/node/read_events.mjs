// Reads one URL with the `eventsource` package (a real EventSource for Node) and prints
// what the client reports, one JSON object per line: open, message (id, data), error
// (readyState, code). It exits 0 once the client has closed itself (after a 204 or
// another failure), and 1 if that has not happened within the timeout.
// Usage: node read_events.mjs URL [TIMEOUT_MS]
import { EventSource } from 'eventsource';

const [url, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg ?? 30000);
const print = record => process.stdout.write(JSON.stringify(record) + '\n');

const source = new EventSource(url);
source.onopen = () => print({ type: 'open' });
source.onmessage = event => print({ type: 'message', id: event.lastEventId, data: event.data });
source.onerror = event => {
  print({ type: 'error', readyState: source.readyState, code: event.code ?? null });
  if (source.readyState === EventSource.CLOSED) {
    clearTimeout(timer);
    source.close();
  }
};
const timer = setTimeout(() => {
  print({ type: 'timeout', readyState: source.readyState });
  source.close();
  process.exitCode = 1;
}, timeoutMs);
