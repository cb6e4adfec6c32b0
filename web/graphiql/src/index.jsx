// Rewind's GraphiQL: queries and mutations over HTTP POST, subscriptions
// over graphql-transport-ws on the same endpoint, both authenticated with
// the Headers tab. Built by build.mjs into dist/, which the Go server
// embeds; nothing is loaded from the network.
import 'graphiql/style.css';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createRoot } from 'react-dom/client';
import { tabs } from './tabs.js';

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

// Subscriptions open their own WebSocket whose connection_init payload is
// the Headers tab (e.g. {"Authorization": "Bearer <JWT>"}), so that a
// server run with --auth=jwt accepts them like the HTTP requests.
const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: wsEndpoint.href,
});

// The server's own example tabs (its typed events, when it declares any)
// come after Rewind's.
const extra = JSON.parse(page.dataset.tabs || '[]');

createRoot(page).render(
  <GraphiQL fetcher={fetcher} defaultTabs={[...tabs, ...extra]} defaultEditorToolsVisibility={false} />,
);
