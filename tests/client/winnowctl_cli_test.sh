#!/bin/sh
# winnowctl's command line without a server: exit statuses and the error
# format "winnowctl: <CODE>: <message>". Usage: winnowctl_cli_test.sh WINNOWCTL
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
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 0.5 count web
WINNOW_TOKEN=t expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 list
# Flag combinations refused after parsing are usage errors too (exit 2),
# named in the message; the server is never reached.
expect 2 "^winnowctl: INVALID_ARGUMENT: refusing to delete collection 'web' without --yes" --server 127.0.0.1:1 delete web
expect 2 '^winnowctl: INVALID_ARGUMENT: --strategy weighted needs --score' --server 127.0.0.1:1 sample web --strategy weighted
expect 2 '^winnowctl: INVALID_ARGUMENT: --alpha applies to --weight-function power' --server 127.0.0.1:1 sample web --strategy weighted --score q --alpha 2
expect 2 '^winnowctl: INVALID_ARGUMENT: --temperature must be > 0' --server 127.0.0.1:1 sample web --strategy weighted --score q --weight-function softmax --temperature 0
expect 2 '^winnowctl: INVALID_ARGUMENT: --rank must be in' --server 127.0.0.1:1 sample web --rank 3 --world-size 2
# A confirmed delete reaches the server: its error exits 1.
expect 1 '^winnowctl: UNAVAILABLE: ' --server 127.0.0.1:1 --timeout 0.5 delete web --yes
expect 2 '' --tls-ca /nonexistent/ca.pem list

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "winnowctl command line: ok"
