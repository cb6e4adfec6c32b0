// urql with Rewind's exchange: the app's code has no cursor in it.
import { Client, fetchExchange } from '@urql/core';
import { rewindExchange } from '../../dist/urql.js';
import { rewind, server, topics, zero, processed, failed, followText } from './app.js';

const client = new Client({ url: server, exchanges: [fetchExchange, rewindExchange(rewind)] });

client.subscription(followText, { topics, afterId: zero }).subscribe((result) =>
  result.error ? failed(result.error.networkError ?? result.error) : processed(result.data.events));
document.title = 'urql ready';
