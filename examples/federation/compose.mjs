// Composes the supergraph of Rewind and the orders subgraph with The
// Guild's federation composition, from each subgraph's own SDL (Rewind's
// from its Query._service, so typed events and stubs come from --schema).
//
//   node compose.mjs REWIND_URL ORDERS_URL [OUT]   (OUT default supergraph.graphql)
//
// Set REWIND_TOKEN when Rewind runs with --auth=jwt.
import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';

const [rewindURL, ordersURL, out = 'supergraph.graphql'] = process.argv.slice(2);
if (!rewindURL || !ordersURL) {
  console.error('usage: node compose.mjs REWIND_URL ORDERS_URL [OUT]');
  process.exit(2);
}

async function sdlOf(url, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query: '{ _service { sdl } }' }) });
  const body = await res.json();
  if (!body.data?._service?.sdl) throw new Error(`${url}: no _service.sdl (is --federation on?): ${JSON.stringify(body)}`);
  return body.data._service.sdl;
}

const services = [
  { name: 'rewind', url: rewindURL, typeDefs: parse(await sdlOf(rewindURL, process.env.REWIND_TOKEN)) },
  { name: 'orders', url: ordersURL, typeDefs: parse(await sdlOf(ordersURL)) },
];
const result = composeServices(services);
if (result.errors?.length) {
  for (const e of result.errors) console.error(e.message);
  process.exit(1);
}
// Written in place: Hive Gateway watches the file itself, stops watching a
// file renamed over, and reads it on every change, exiting on one it cannot
// parse. Truncating first (as writeFileSync does) shows it an empty file:
// write the new text over the old in one write, then cut the old one's
// tail, if it was longer.
const text = Buffer.from(result.supergraphSdl);
const fd = openSync(out, constants.O_WRONLY | constants.O_CREAT);
try {
  for (let at = 0; at < text.length; ) at += writeSync(fd, text, at, text.length - at, at);
  ftruncateSync(fd, text.length);
} finally {
  closeSync(fd);
}
console.log(`composed ${out}`);
