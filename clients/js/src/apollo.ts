// Apollo Client (v4) integration: a terminating link that runs
// subscriptions through a RewindClient, so that client.subscribe and
// useSubscription resume from their cursor with no code in the app.
import { ApolloLink } from '@apollo/client/link';
import { getMainDefinition } from '@apollo/client/utilities';
import { Observable } from 'rxjs';
import type { RewindClient } from './client.js';

/**
 * RewindLink runs each operation it receives as a Rewind subscription. Its
 * cursor key is the operation's context `rewindKey` if set, else derived
 * from the document Apollo sends (with the __typename fields it adds) and
 * the variables. Results count as processed once Apollo has handed them to
 * the app's observers (Apollo's pipeline is synchronous). Apollo shares one
 * link request among identical subscriptions (queryDeduplication); errors
 * reach the app in next, as { data: undefined, error }.
 */
export class RewindLink extends ApolloLink {
  readonly rewind: RewindClient;

  constructor(rewind: RewindClient) {
    super();
    this.rewind = rewind;
  }

  override request(operation: ApolloLink.Operation): Observable<ApolloLink.Result> {
    return new Observable<ApolloLink.Result>((observer) =>
      this.rewind.subscribe(
        {
          query: operation.query,
          variables: operation.variables,
          operationName: operation.operationName,
          key: (operation.getContext() as { rewindKey?: string }).rewindKey,
        },
        {
          next: (result) => observer.next(result as ApolloLink.Result),
          error: (err) => observer.error(err),
          complete: () => observer.complete(),
        },
      ),
    );
  }
}

/**
 * rewindLink sends subscriptions through rewind and every other operation
 * through http (e.g. new HttpLink({ uri })); without http it is a
 * RewindLink alone.
 */
export function rewindLink(rewind: RewindClient, http?: ApolloLink): ApolloLink {
  const link = new RewindLink(rewind);
  if (!http) return link;
  return ApolloLink.split(({ query }) => {
    const def = getMainDefinition(query);
    return def.kind === 'OperationDefinition' && def.operation === 'subscription';
  }, link, http);
}
