// Rewind's GraphiQL: queries and mutations over HTTP POST, subscriptions
// over graphql-transport-ws on the same endpoint. Built by build.mjs into
// dist/, which the Go server embeds; nothing is loaded from the network.
import 'graphiql/style.css';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
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

const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  wsClient: createClient({ url: wsEndpoint.href, lazy: true, retryAttempts: 5 }),
});

createRoot(page).render(
  <GraphiQL fetcher={fetcher} defaultTabs={tabs} defaultEditorToolsVisibility={false} />,
);
