// The errors a subscription ends with: only those that retrying cannot fix
// reach the app, each saying what to do instead.
import type { GraphQLFormattedError } from 'graphql';

/** RewindError is every error the client gives the app; `advice` says what to do. */
export class RewindError extends Error {
  /** A GraphQL `extensions.code` (`CURSOR_EXPIRED`, `FORBIDDEN`, ...) or `CONNECTION_CLOSED`. */
  readonly code: string;
  /** The subscription's cursor key. */
  readonly key: string;
  /** What the app should do about it, in a sentence. */
  readonly advice: string;

  constructor(code: string, key: string, message: string, advice: string, options?: { cause?: unknown }) {
    super(`${message}: ${advice}`, options);
    this.name = 'RewindError';
    this.code = code;
    this.key = key;
    this.advice = advice;
  }
}

/**
 * CursorError: the server no longer has the events after the stored cursor
 * (`CURSOR_EXPIRED`: removed by retention) or never had it
 * (`CURSOR_NOT_FOUND`: another server, a restored backup). Resuming cannot
 * work: forget the cursor (`client.resetCursor(key)`), rebuild the app's
 * state, and subscribe again from `last`, `since` or `latest`.
 */
export class CursorError extends RewindError {
  declare readonly code: 'CURSOR_EXPIRED' | 'CURSOR_NOT_FOUND';
  /** The cursor the server refused. */
  readonly cursor: string;
  readonly errors: readonly GraphQLFormattedError[];

  constructor(code: 'CURSOR_EXPIRED' | 'CURSOR_NOT_FOUND', key: string, cursor: string, errors: readonly GraphQLFormattedError[]) {
    const what = code === 'CURSOR_EXPIRED' ? 'was removed by retention' : 'is not stored on this server';
    super(code, key, `cursor ${cursor} of subscription ${key} ${what}`,
      'the events after it cannot be replayed; call resetCursor(key), rebuild your state and subscribe again from last, since or latest');
    this.name = 'CursorError';
    this.cursor = cursor;
    this.errors = errors;
  }
}

/** RequestError: the server refused the operation (`BAD_USER_INPUT`, `FORBIDDEN`, ...): fix the request. */
export class RequestError extends RewindError {
  readonly errors: readonly GraphQLFormattedError[];

  constructor(code: string, key: string, errors: readonly GraphQLFormattedError[]) {
    super(code, key, `subscription ${key} refused (${code}): ${errors.map((e) => e.message).join('; ')}`, adviceFor(code));
    this.name = 'RequestError';
    this.errors = errors;
  }
}

/** CloseError: the server closed the connection with a code after which reconnecting cannot help. */
export class CloseError extends RewindError {
  readonly closeCode: number;
  readonly reason: string;

  constructor(key: string, closeCode: number, reason: string) {
    super('CONNECTION_CLOSED', key, `connection closed ${closeCode}${reason ? ` (${reason})` : ''}`, closeAdvice[closeCode] ?? 'fix the client; reconnecting cannot help');
    this.name = 'CloseError';
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** HTTPError: the SSE request was answered with a 4xx status that retrying cannot change. */
export class HTTPError extends RewindError {
  readonly status: number;

  constructor(key: string, status: number, code: string) {
    super(code || `HTTP_${status}`, key, `HTTP ${status}`, adviceFor(code));
    this.name = 'HTTPError';
    this.status = status;
  }
}

function adviceFor(code: string): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'send valid credentials (connectionParams or headers), then subscribe again';
    case 'FORBIDDEN':
      return 'the credentials may not read these topics';
    case 'BAD_USER_INPUT':
    case 'GRAPHQL_VALIDATION_FAILED':
    case 'GRAPHQL_PARSE_FAILED':
      return 'fix the operation or its variables';
    default:
      return 'retrying the same request cannot succeed';
  }
}

// The close codes of graphql-transport-ws and WebSocket that no reconnection
// fixes, as Rewind's Go client treats them (README: close codes).
export const fatalCloseCodes: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1009, 1010, 4400, 4401, 4403, 4406, 4409, 4429]);

const closeAdvice: Record<number, string> = {
  1009: 'a message was over the server\'s size limit; send a smaller one',
  4400: 'the client sent an invalid message; fix the client',
  4401: 'the client subscribed before connection_ack; fix the client',
  4403: 'the server refused the credentials (or they expired); re-authenticate, then subscribe again (the cursor is kept)',
  4406: 'offer the graphql-transport-ws subprotocol',
  4409: 'two operations used one id; fix the client',
  4429: 'the client sent connection_init twice; fix the client',
};

// Operation errors that a later attempt can get past: the subscription
// resumes from its cursor after the backoff.
export const retryableCodes: ReadonlySet<string> = new Set([
  'SLOW_CONSUMER', 'UNAVAILABLE', 'RATE_LIMITED', 'TOO_MANY_SUBSCRIPTIONS', 'TOO_MANY_CONNECTIONS', 'INTERNAL_SERVER_ERROR',
]);
