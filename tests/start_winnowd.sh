# Sourced by the shell tests that drive a real winnowd: start_winnowd
# WINNOWD WORK starts it on free loopback ports with its data in WORK/data
# and its log in WORK/winnowd.log, waits up to 30 s for its "listening on"
# line, and sets PID and PORT; an EXIT trap stops it.
start_winnowd() {
  "$1" --data-dir "$2/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    >"$2/winnowd.log" 2>&1 &
  PID=$!
  trap 'kill -TERM $PID 2>/dev/null || true' EXIT
  _i=0
  until grep -q "listening on" "$2/winnowd.log"; do
    _i=$((_i + 1)); [ $_i -lt 300 ] || { cat "$2/winnowd.log"; exit 1; }
    sleep 0.1
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$2/winnowd.log" | head -1)
}
