/**
 * A refused request's body, read once into a RequestError: the server's
 * `{"error": TEXT, "kind": KIND}`. What the panel does about a refusal goes by that kind,
 * never by the status or by the text, which is for people.
 */
import { Refusal, RefusalKind, RequestError } from './types';

/**
 * The refusal `response` (not 2xx) carries: its `error` text (else jupyter_server's
 * `message`, else the status line and the start of the body) and its `kind`, null when the
 * body names none (a proxy's page, jupyter_server's own errors). A kind the panel's copy
 * of the document does not list is kept as sent.
 */
export async function readRefusal(response: Response): Promise<RequestError> {
  const text = await response.text().catch(() => '');
  let body: Partial<Record<keyof Refusal | 'message', unknown>> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      body = parsed;
    }
  } catch {
    // not JSON: no kind, and the status line says what happened
  }
  const message = [body.error, body.message].find(
    (value): value is string => typeof value === 'string' && value !== ''
  );
  const kind =
    typeof body.kind === 'string' && body.kind !== '' ? (body.kind as RefusalKind) : null;
  const statusLine = `${response.status} ${response.statusText || 'error'}`;
  return new RequestError(
    message ?? `${statusLine}${text ? `: ${text.slice(0, 200)}` : ''}`,
    response.status,
    kind
  );
}
