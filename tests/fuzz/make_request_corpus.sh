#!/usr/bin/env bash
# Regenerates the seed corpus of request_fuzzer from the text-format
# requests below: one file per request, its first byte the request kind
# (request_fuzzer.cc), the rest the binary protobuf. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus/request_fuzzer
mkdir -p "$out"
n=0
seed() {  # seed KIND_BYTE MESSAGE TEXT
  n=$((n + 1))
  local file="$out/seed-$(printf %02d $n)"
  printf "\\x$(printf %02x "$1")" > "$file"
  printf '%s' "$3" | protoc -I proto --encode="winnow.v1.$2" \
    proto/winnow/v1/*.proto >> "$file"
}
seed 0 SampleRequest 'collection: "web" seed: 7 batch_size: 256 num_epochs: 1 filter: "quality > 0.5" world_size: 2 rank: 1'
seed 0 SampleRequest 'collection: "web" strategy { weighted { score: "quality" weight_function: WEIGHT_FUNCTION_POWER alpha: 2 } } batch_size: 3'
seed 0 SampleRequest 'collection: "web" world_size: 0 rank: 3'
seed 1 FilterRequest 'collection: "web" filter: "edu > pct(edu, 90)" view: RESULT_VIEW_IDS batch_size: 10 max_results: 5'
seed 1 FilterRequest 'collection: "web" view: RESULT_VIEW_FULL read_mask { paths: "payload" paths: "scores" }'
seed 2 CountRequest 'collection: "web" filter: "domain == \"code\""'
seed 3 UpsertDocumentsRequest 'collection: "web" sequence: 1 columns { ids: "a" ids: "b" domains: "web" domains: "code" lengths: 10 lengths: 20 scores { name: "quality" values: 0.5 values: 0 null_indexes: 1 } attributes { key: "lang" values: "en" values: "" } }'
seed 3 UpsertDocumentsRequest 'collection: "web" documents { id: "x" domain: "web" length: 5 payload: "text" scores { key: "q" value: 1 } attributes { key: "lang" value: "de" } embedding: 0.5 embedding: 1.5 }'
seed 4 PutScoresRequest 'collection: "web" sequence: 3 ids: "a" ids: "b" scores { name: "edu" values: 1 values: 2 null_indexes: 0 }'
seed 4 PutScoresRequest 'collection: "web" ordinals: 0 ordinals: 7 scores { name: "edu" values: 1 values: nan }'
seed 5 GetDocumentsRequest 'collection: "web" ids: "a" read_mask { paths: "embedding" paths: "bogus" } allow_missing: true'
seed 6 CreateCollectionRequest 'collection { name: "web-2" embedding_dimension: 768 }'
echo "wrote $n seeds to $out"
