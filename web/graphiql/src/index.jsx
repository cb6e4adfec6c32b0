// Rewind's GraphiQL: queries and mutations over HTTP POST, subscriptions
// over graphql-transport-ws on the same endpoint, both authenticated with
// the Headers tab. Subscriptions run in a store of their own (streams.js)
// so that they survive tab switches, and the Stream plugin lists what they
// receive. Built by build.mjs into dist/, which the Go server embeds;
// nothing is loaded from the network.
import 'graphiql/style.css';
import './stream.css';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createRoot } from 'react-dom/client';
import { exampleTabs } from './tabs.js';
import { createStreams, isSubscription, shallowIntrospection, withOperationName } from './streams.js';
import { StreamStatus, StreamView, streamIcon } from './StreamView.jsx';

// Monaco runs its language services in workers, built beside this file.
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === 'json' ? 'json' : label === 'graphql' ? 'graphql' : 'editor';
    return new Worker(new URL(`./${name}.worker.js`, import.meta.url), { type: 'module' });
  },
};

const page = document.getElementById('graphiql');
const endpoint = new URL(page.dataset.endpoint || '/graphql', window.location.href);
const wsEndpoint = new URL(endpoint);
wsEndpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

const httpFetcher = createGraphiQLFetcher({ url: endpoint.href });

// Subscriptions open their own WebSocket whose connection_init payload is
// the Headers tab (e.g. {"Authorization": "Bearer <JWT>"}), so that a
// server run with --auth=jwt accepts them like the HTTP requests.
const streams = createStreams(wsEndpoint.href);

// Right after a tab switch GraphiQL may pass the previous tab's operation
// name and documentAST: the operation is read from the query itself, and
// the toolkit's fetcher, without documentAST, sends everything over HTTP.
// GraphiQL's introspection is made shallow enough for the depth limit.
const fetcher = (request, opts) => {
  const params = shallowIntrospection(withOperationName(request));
  return isSubscription(params.query, params.operationName)
    ? streams.fetch(params, opts?.headers, streams.activeTab())
    : httpFetcher(params, { ...opts, documentAST: undefined });
};

const streamPlugin = {
  title: 'Stream',
  icon: streamIcon(streams),
  content: () => <StreamView streams={streams} />,
};

// Rewind's example tabs use the topics the server declares typed events on
// (orders.* without a schema); the server's own tabs (its typed events)
// come after them.
const tabs = exampleTabs(JSON.parse(page.dataset.topics || '[]'));
const extra = JSON.parse(page.dataset.tabs || '[]');

createRoot(page).render(
  <GraphiQL
    fetcher={fetcher}
    defaultTabs={[...tabs, ...extra]}
    defaultEditorToolsVisibility={false}
    plugins={[streamPlugin]}
    // Called synchronously right after GraphiQL stopped the tab's
    // operation, which is how the store tells a tab switch from a stop.
    onTabChange={(state) => streams.tabsChanged(state.tabs.map((t) => t.id), state.tabs[state.activeTabIndex]?.id)}
  >
    <GraphiQL.Footer>
      <StreamStatus streams={streams} />
    </GraphiQL.Footer>
  </GraphiQL>,
);
