#!/bin/sh
# winnowctl's command line: first without a server, exit statuses and the
# error format "winnowctl: <CODE>: <message>"; then, given WINNOWD, the
# commands on embeddings and long jobs through a real winnowd (one function
# per case, below).
# Usage: winnowctl_cli_test.sh WINNOWCTL [WINNOWD SOURCE_DIR WORK_DIR]
set -u
ctl=$1
failures=0

# expect STATUS PATTERN ARGS...: runs winnowctl ARGS, checks its exit status
# and that its stderr matches the grep pattern.
expect() {
  want=$1 pattern=$2
  shift 2
  err=$("$ctl" "$@" 2>&1 >/dev/null)
  got=$?
  if [ "$got" -ne "$want" ] || ! printf '%s\n' "$err" | grep -q -- "$pattern"; then
    echo "FAIL: winnowctl $*: exit $got (want $want), stderr: $err"
    failures=$((failures + 1))
  fi
}

expect 0 '' --help
expect 0 '' import --help
expect 2 'subcommand' 
expect 2 'name is required' count
expect 2 'strategy' sample web --strategy nope
expect 2 '^--timeout' --timeout -3 list
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 list
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 5 count web
WINNOW_TOKEN=t expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 list
# Flag combinations refused after parsing are usage errors too (exit 2),
# named in the message; the server is never reached.
expect 2 "^winnowctl: INVALID_ARGUMENT: refusing to delete collection 'web' without --yes" --server 127.0.0.1:1 delete web
expect 2 '^winnowctl: INVALID_ARGUMENT: --strategy weighted needs --score' --server 127.0.0.1:1 sample web --strategy weighted
expect 2 '^winnowctl: INVALID_ARGUMENT: --alpha applies to --weight-function power' --server 127.0.0.1:1 sample web --strategy weighted --score q --alpha 2
expect 2 '^winnowctl: INVALID_ARGUMENT: --temperature must be > 0' --server 127.0.0.1:1 sample web --strategy weighted --score q --weight-function softmax --temperature 0
expect 2 '^winnowctl: INVALID_ARGUMENT: --rank must be in' --server 127.0.0.1:1 sample web --rank 3 --world-size 2
# A confirmed delete reaches the server: its error exits 1.
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 5 delete web --yes
expect 2 '' --tls-ca /nonexistent/ca.pem list
# The commands on embeddings and long jobs refuse bad flags the same way.
expect 2 '^winnowctl: INVALID_ARGUMENT: compute kmeans needs --clusters' --server 127.0.0.1:1 compute kmeans web
expect 2 '^winnowctl: INVALID_ARGUMENT: --epsilon and --keep-ratio exclude each other' --server 127.0.0.1:1 compute semdedup web --epsilon 0.1 --keep-ratio 0.5
expect 2 '^winnowctl: INVALID_ARGUMENT: --epsilon does not apply to compute d4' --server 127.0.0.1:1 compute d4 web --epsilon 0.1
expect 2 '^winnowctl: INVALID_ARGUMENT: --clusters does not apply to compute exact-dedup' --server 127.0.0.1:1 compute exact-dedup web --clusters 3
expect 2 'target-similarity needs a target' --server 127.0.0.1:1 compute target-similarity web
expect 2 'scorer' compute pagerank web
expect 2 '^winnowctl: INVALID_ARGUMENT: nearest needs --id or --vector-file' --server 127.0.0.1:1 nearest web
expect 2 '^winnowctl: INVALID_ARGUMENT: --state must be' --server 127.0.0.1:1 ops list --state done
expect 2 'id is required' ops wait
expect 2 'embeddings' import web docs.jsonl --embeddings /nonexistent/e.npy
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 5 ops list
# A repeatable flag takes one value: the positional after it is the collection.
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 5 nearest --id a web
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 5 compute target-similarity --target-id a web

# --- Through a real winnowd ---

# ctl ARGS...: winnowctl against the server; stdout in $W/out, stderr in
# $W/err, and its exit status.
ctl() { "$ctl" --server "127.0.0.1:$PORT" "$@" >"$W/out" 2>"$W/err"; }
fail() {
  echo "FAIL: $1; stdout: $(cat "$W/out"); stderr: $(cat "$W/err")"
  failures=$((failures + 1))
}
# has FILE PATTERN CASE: $W/FILE (out or err) matches the grep pattern.
has() { grep -q -- "$2" "$W/$1" || fail "$3: $1 lacks '$2'"; }
# ok CASE ARGS...: winnowctl ARGS exits 0.
ok() { _case=$1; shift; ctl "$@" || fail "$_case: winnowctl $* exited $?"; }
# fails STATUS CASE ARGS...: winnowctl ARGS exits STATUS.
fails() {
  _want=$1 _case=$2; shift 2
  ctl "$@"; _got=$?
  [ "$_got" -eq "$_want" ] || fail "$_case: winnowctl $* exited $_got, not $_want"
}

# 8 documents of 4-d embeddings (d1 near d0, d5 near d3) in a float32 .npy,
# d2 and d4 repeating the payloads of d0 and d3; a 7-row .npy; a float16
# query vector.
make_data() {
  /usr/bin/python3 - "$W" <<'PY'
import json, sys
import numpy as np
w = sys.argv[1]
e = np.array([[1, 0, 0, 0], [0.99, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
              [0, 0, 0, 1], [0, 0.1, 0.99, 0], [-1, 0, 0, 0], [0, -1, 0, 0]],
             dtype=np.float32)
payloads = ["alpha", "beta", "alpha", "gamma", "gamma", "d", "e", "f"]
with open(f"{w}/docs.jsonl", "w") as f:
    for i, p in enumerate(payloads):
        f.write(json.dumps({"id": f"d{i}", "payload": p}) + "\n")
np.save(f"{w}/emb.npy", e)
np.save(f"{w}/short.npy", e[:7])
np.save(f"{w}/query.npy", np.array([[0, 0, 1, 0]], dtype=np.float16))
PY
}

case_import_with_npy() {
  ok import create emb --embedding-dimension 4
  ok import import emb "$W/docs.jsonl" --embeddings "$W/emb.npy"
  has out '^imported 8 documents' import
}

case_import_refuses_a_row_mismatch() {
  fails 1 import-mismatch import emb "$W/docs.jsonl" --embeddings "$W/short.npy"
  has err "short.npy has 7 rows but .*docs.jsonl has 8 documents" import-mismatch
}

case_nearest_by_id() {
  ok nearest-id nearest emb --id d0 -k 1
  has out "^d0	d1	0.99" nearest-id
  ok nearest-jsonl nearest emb --id d0 -k 2 --format jsonl
  has out '^{"query_id":"d0","neighbors":\[{"id":"d1",' nearest-jsonl
}

case_nearest_by_vector() {
  ok nearest-vector nearest emb --vector-file "$W/query.npy" -k 2
  has out "^#0	d3	1\$" nearest-vector
  has out "^#0	d5	0.99" nearest-vector
}

case_compute_exact_dedup() {
  ok exact-dedup compute exact-dedup emb --progress
  has out '^operation .* succeeded' exact-dedup
  has out '^exact_dedup.duplicate_count: 2$' exact-dedup
  has err 'started; Ctrl-C cancels it' exact-dedup
  ok exact-dedup-filter filter emb --filter 'exact_dup == 1'
  [ "$(cat "$W/out")" = "$(printf 'd2\nd4')" ] || fail "exact-dedup: duplicates"
}

case_compute_no_wait_then_ops() {
  ok no-wait compute exact-dedup emb --no-wait --duplicate-score dup2
  has out 'follow it with `winnowctl ops wait ' no-wait
  id=$(sed -n 's/^operation \([^ ]*\) .*/\1/p' "$W/out")
  ok ops-wait ops wait "$id"
  has out '^exact_dedup.duplicate_count: 2$' ops-wait
  ok ops-get ops get "$id"
  has out '^state: succeeded$' ops-get
  has out '^scorer.exact_dedup.duplicate_score: dup2$' ops-get
  ok ops-list ops list --collection emb --kind compute-scores --state succeeded
  has out "^${id}	compute-scores	succeeded	100.0%	emb" ops-list
  ok ops-cancel ops cancel "$id"
  has out "^operation $id had already ended: succeeded" ops-cancel
  fails 1 ops-get-missing ops get no-such-op
  has err '^winnowctl: NOT_FOUND: ' ops-get-missing
}

# Until their scorers are merged the server answers UNIMPLEMENTED; the CLI
# reports the server's error and exits 1.
# Two clusters of the 8 rows with k-means++ (seeded): d0 and d1 (near
# each other) share a cluster, and every distance is in [0, 2].
case_kmeans() {
  ok kmeans compute kmeans emb --clusters 2 --seed 3 --iterations 5
  has out '^operation .* succeeded' kmeans
  has out '^score_names: cluster,centroid_distance$' kmeans
  has out '^kmeans.iteration_count: ' kmeans
  ok kmeans-d0 filter emb --filter 'id == "d0"' --scores cluster
  c0=$(cut -f2 "$W/out")
  ok kmeans-d1 filter emb --filter 'id == "d1"' --scores cluster
  [ "$(cut -f2 "$W/out")" = "$c0" ] || fail "kmeans: d0 and d1 apart"
  ok kmeans-range count emb --filter 'centroid_distance >= 0 and centroid_distance <= 2'
  has out '^8$' kmeans-range
}

# On case_kmeans' stored clusters: d0 and d1 (cos 0.995) share one, so
# with epsilon 0.1 exactly one of them is a duplicate. D4 keeps half.
case_semdedup_and_d4() {
  ok semdedup compute semdedup emb --epsilon 0.1
  has out '^operation .* succeeded' semdedup
  has out '^score_names: semdedup_dup$' semdedup
  ok semdedup-pair count emb --filter 'semdedup_dup == 1 and id in ("d0", "d1")'
  has out '^1$' semdedup-pair
  # Clustering first, across cluster boundaries too, into its own column.
  ok semdedup-2nd compute semdedup emb --epsilon 0.1 --clusters 2 --seed 3 \
    --compare-second-cluster --cluster-score c2 --duplicate-score dup_2nd
  has out '^semdedup.duplicate_count: [1-9]' semdedup-2nd
  ok semdedup-2nd-pair count emb --filter 'dup_2nd == 1 and id in ("d0", "d1")'
  has out '^1$' semdedup-2nd-pair
  fails 1 semdedup-2nd-alone compute semdedup emb --compare-second-cluster
  has err "INVALID_ARGUMENT: .*compare_second_cluster" semdedup-2nd-alone
  ok d4 compute d4 emb --total-keep-ratio 0.5 --clusters 2 --seed 3
  has out '^operation .* succeeded' d4
  ok d4-kept count emb --filter 'd4_pruned == 0'
  has out '^4$' d4-kept
}

# Toward d0: d0 scores 1 and d1 (0.99, 0.1) about 0.995; d6 (-d0) scores -1.
case_target_similarity() {
  ok target compute target-similarity emb --target-id d0 --score near_d0
  has out '^operation .* succeeded' target
  has out '^score_names: near_d0$' target
  ok target-filter filter emb --filter 'near_d0 > 0.99'
  [ "$(cat "$W/out")" = "$(printf 'd0\nd1')" ] || fail "target: near d0"
  ok target-far filter emb --filter 'near_d0 < -0.99'
  [ "$(cat "$W/out")" = "d6" ] || fail "target: far from d0"
  fails 1 target-unknown compute target-similarity emb --target-id nope
  has err 'NOT_FOUND: .*target_ids\[0\]' target-unknown
}

# winnowd answers Backup at once (--backup-wait-seconds 0), so the command
# must wait for the operation.
case_backup_waits() {
  ok backup backup
  has out '^operation .* succeeded' backup
  has out '^backup_id: ' backup
  has out '^collection_count: 1$' backup
  ok backup-no-wait backup --no-wait
  has out '^operation .* \(pending\|running\|succeeded\); follow it' backup-no-wait
  id=$(sed -n 's/^operation \([^ ]*\) .*/\1/p' "$W/out")
  ok backup-ops-wait ops wait "$id"
  has out '^path: ' backup-ops-wait
  ok backup-ops-list ops list --kind backup
  [ "$(grep -c '	backup	' "$W/out")" -eq 2 ] || fail "backup: ops list"
}

if [ $# -ge 4 ]; then
  W=$4
  rm -rf "$W" && mkdir -p "$W"
  . "$3/tests/start_winnowd.sh"
  start_winnowd "$2" "$W" --backup-wait-seconds 0
  make_data || { echo "FAIL: make_data"; exit 1; }
  case_import_with_npy
  case_import_refuses_a_row_mismatch
  case_nearest_by_id
  case_nearest_by_vector
  case_compute_exact_dedup
  case_compute_no_wait_then_ops
  case_kmeans
  case_semdedup_and_d4
  case_target_similarity
  case_backup_waits
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "winnowctl command line: ok"
