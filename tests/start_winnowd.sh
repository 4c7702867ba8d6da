# Sourced by the shell tests that drive a real winnowd: start_winnowd
# WINNOWD WORK [FLAG...] starts it on free loopback ports with its data in
# WORK/data, its log in WORK/winnowd.log and any further flags, waits up to
# 30 s for its "listening on" line, and sets PID and PORT; an EXIT trap
# stops it.
start_winnowd() {
  _winnowd=$1 _work=$2
  shift 2
  "$_winnowd" --data-dir "$_work/data" --listen 127.0.0.1:0 \
    --metrics-listen 127.0.0.1:0 "$@" >"$_work/winnowd.log" 2>&1 &
  PID=$!
  trap 'kill -TERM $PID 2>/dev/null || true' EXIT
  _i=0
  until grep -q "listening on" "$_work/winnowd.log"; do
    _i=$((_i + 1)); [ $_i -lt 300 ] || { cat "$_work/winnowd.log"; exit 1; }
    sleep 0.1
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$_work/winnowd.log" | head -1)
}
