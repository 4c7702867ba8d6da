#!/usr/bin/env node
// Winnow from Node.js, with nothing but the .proto contract: @grpc/grpc-js
// and @grpc/proto-loader (from npm) load proto/winnow/v1/*.proto at run
// time, with no generated code. The example
//   1. creates a collection,
//   2. upserts 100 documents in one acknowledged batch,
//   3. counts a filter,
//   4. samples 3 batches of a plan, keeps the cursor of the third,
//   5. resumes from that cursor and reads the rest of the epoch,
// and checks that the two parts together serve every document once.
//
//   cd client/node && npm ci
//   node example.js --server 127.0.0.1:7450 [--collection node-example]
//
// WINNOW_TOKEN, when set, is sent as `authorization: Bearer TOKEN`.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function args() {
  const out = {
    server: '127.0.0.1:7450',
    collection: 'node-example',
    proto: path.join(__dirname, '..', '..', 'proto'),
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in out) || argv[i + 1] === undefined) {
      throw new Error(`usage: example.js [--server HOST:PORT] ` +
                      `[--collection NAME] [--proto DIR]; got ${argv[i]}`);
    }
    out[key] = argv[i + 1];
  }
  return out;
}

function loadWinnow(protoDir) {
  const files = ['collection', 'document', 'selection'].map(
      (name) => `winnow/v1/${name}.proto`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [protoDir],
    keepCase: true,  // field names exactly as in the .proto files
    longs: Number,   // int64 as Number (counts here are small)
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).winnow.v1;
}

// Calls a unary method and returns a Promise of its response.
function unary(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, {deadline: Date.now() + 30000},
                   (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// Reads a server stream to its end.
function readAll(call) {
  return new Promise((resolve, reject) => {
    const messages = [];
    call.on('data', (m) => messages.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

async function main() {
  const opts = args();
  const v1 = loadWinnow(opts.proto);
  const credentials = grpc.credentials.createInsecure();
  const collections = new v1.CollectionService(opts.server, credentials);
  const documents = new v1.DocumentService(opts.server, credentials);
  const selection = new v1.SelectionService(opts.server, credentials);
  const metadata = new grpc.Metadata();
  if (process.env.WINNOW_TOKEN) {
    metadata.set('authorization', `Bearer ${process.env.WINNOW_TOKEN}`);
  }

  // 1. The collection (an existing one is fine).
  try {
    await unary(collections, 'CreateCollection',
                {collection: {name: opts.collection}}, metadata);
  } catch (err) {
    if (err.code !== grpc.status.ALREADY_EXISTS) throw err;
  }

  // 2. One atomic batch, acknowledged with its sequence once durable.
  const upsert = documents.UpsertDocuments(metadata);
  const acks = readAll(upsert);
  const ids = [];
  for (let i = 0; i < 100; i++) ids.push(`node-${String(i).padStart(3, '0')}`);
  upsert.write({
    collection: opts.collection,
    sequence: 1,
    columns: {
      ids,
      domains: ids.map((_, i) => (i % 4 === 0 ? 'code' : 'web')),
      lengths: ids.map((_, i) => 100 + i),
      scores: [{name: 'quality', values: ids.map((_, i) => i / 100)}],
    },
  });
  upsert.end();
  for (const ack of await acks) {
    console.log(`acknowledged sequence ${ack.sequence} with ` +
                `${ack.document_count} documents`);
  }

  // 3. A count.
  const filter = 'quality >= 0.5 and domain == "web"';
  const count = await unary(selection, 'Count',
                            {collection: opts.collection, filter}, metadata);
  console.log(`count ${filter}: ${count.count}`);

  // 4. Three batches of a plan, then stop and keep the cursor.
  const plan = {
    collection: opts.collection,
    seed: 7,
    run_id: 'node-example',
    num_epochs: 1,
    batch_size: 10,
    rank: 0,
    world_size: 1,
  };
  const first = await readAll(
      selection.Sample({...plan, max_batches: 3}, metadata));
  const cursor = first[first.length - 1].cursor;
  for (const r of first) {
    console.log(`batch ${r.batch.global_batch_index}: ${r.batch.ids.join(' ')}`);
  }

  // 5. Resume from the cursor (the plan fields may be left out), as a
  //    restarted trainer would, and read the rest of the epoch.
  const rest = await readAll(
      selection.Sample({cursor, rank: 0, world_size: 1}, metadata));
  console.log(`resumed at batch ${rest[0].batch.global_batch_index}, ` +
              `${rest.length} more batches`);

  const indexes = first.concat(rest).map((r) => Number(r.batch.global_batch_index));
  const served = first.concat(rest).flatMap((r) => r.batch.ids);
  const unique = new Set(served);
  if (indexes.join(',') !== [...Array(10).keys()].join(',') ||
      served.length !== 100 || unique.size !== 100) {
    throw new Error(`resume served batches ${indexes} with ${served.length} ` +
                    `samples (${unique.size} distinct), not batches 0..9 with ` +
                    `every document once`);
  }
  console.log('every document served once across the resume');
  collections.close();
  documents.close();
  selection.close();
}

main().catch((err) => {
  console.error(`error: ${err.code !== undefined ? `code ${err.code}: ` : ''}` +
                `${err.details || err.message}`);
  process.exit(1);
});
