// urql integration: a subscriptionExchange whose subscriptions run through
// a RewindClient and resume from their cursor.
import { subscriptionExchange, type Exchange } from '@urql/core';
import type { RewindClient } from './client.js';

/**
 * rewindExchange handles subscription operations; put it after
 * fetchExchange (which leaves subscriptions alone). Its cursor key is the
 * operation's context `rewindKey` if set, else derived from the document
 * and variables. urql shares one operation among identical subscriptions;
 * errors reach the app as result.error.networkError (a CombinedError's).
 */
export function rewindExchange(rewind: RewindClient): Exchange {
  return subscriptionExchange({
    forwardSubscription: (request, operation) => ({
      subscribe: (sink) => ({
        unsubscribe: rewind.subscribe(
          {
            query: request.query ?? '',
            variables: request.variables as Record<string, unknown> | undefined,
            operationName: request.operationName,
            key: (operation.context as { rewindKey?: string }).rewindKey,
          },
          {
            next: (result) => sink.next(result as never),
            error: (err) => sink.error(err),
            complete: () => sink.complete(),
          },
        ),
      }),
    }),
  });
}
