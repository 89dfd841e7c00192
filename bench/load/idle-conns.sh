#!/usr/bin/env bash
# Memory per idle keep-alive client connection: N connections (default 10000) each make one keep-alive request
# through the proxy, then stay open and idle; the proxy's RSS (VmRSS of it and its children) before and after.
#
#   sudo bash bench/load/idle-conns.sh
#   N=5000 PROXIES="nginx haproxy" bash bench/load/idle-conns.sh
#
# Environment (defaults in brackets):
#   N [10000]  HOLD [5] seconds held idle before RSS is read  BATCH [100] connections opened at a time
#   PROXIES ["fastproxy nginx haproxy"]  FASTPROXY_CMD, FASTPROXY_START_TIMEOUT, PROXY_CORE, CLIENT_CORE,
#   BACKEND_PORT, PROXY_PORT, QUIET_WAIT, KEEP_TMP: as for run.sh
set -euo pipefail
# shellcheck source=bench/load/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-10000}
HOLD=${HOLD:-5}
BATCH=${BATCH:-100}
PROXIES=${PROXIES:-"fastproxy nginx haproxy"}
FASTPROXY_CMD=${FASTPROXY_CMD:-}

for v in N HOLD BATCH; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
for p in $PROXIES; do case "$p" in fastproxy | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES" ;; esac; done

ensure_commands nginx haproxy wrk curl taskset pgrep ss python3
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores"

# The client holds N sockets and the proxy N client sockets plus its upstream ones.
hard=$(ulimit -Hn)
ulimit -n "$hard" 2>/dev/null || true
if [ "$hard" != unlimited ] && [ "$hard" -lt $((N + 1024)) ]; then
  die "the open-files hard limit is $hard, too low for N=$N idle connections (needs N+1024); raise it or lower N"
fi

setup_workdir
PROXY_CONF="$WORK_DIR/proxy.conf"
HAPROXY_CONF="$WORK_DIR/haproxy.cfg"
write_nginx_proxy_conf "$PROXY_CONF" "$N"   # worker_connections N+1024
write_haproxy_conf "$HAPROXY_CONF" "$N"     # maxconn N+1024
start_backend "$WORK_DIR" 4096

declare -A ROW
NOTES=()
note() { NOTES+=("$*"); log "$*"; }


for proxy in $PROXIES; do
  label=$(proxy_label "$proxy")
  log "=== $label"
  if ! start_proxy "$proxy"; then
    if [ "$proxy" = fastproxy ]; then ROW[$proxy]="| FastProxy | FastProxy: not available | - | - | - | - |"; note "FastProxy: not available: $START_ERR"
    else ROW[$proxy]="| $label | did not start | - | - | - | - |"; note "$label: $START_ERR"; fi
    continue
  fi
  if ! verify_proxy "$WORK_DIR" "$PROXY_PORT"; then
    ROW[$proxy]="| $label | response check failed | - | - | - | - |"
    note "$label: response check failed, not measured: $CHECK_ERR"
    stop_pid "$PROXY_PID"
    continue
  fi
  # Warm the proxy up (buffers, pools, JIT) so that "before" is its steady state with no client connected.
  run_waited "$WORK_DIR/warmup.txt" taskset -c "$CLIENT_CORE" timeout 30 wrk -t1 -c50 -d2s "http://127.0.0.1:$PROXY_PORT/100" || true
  sleep 1
  wait_quiet || true
  n=$N
  if [ "$proxy" = haproxy ] && [ $((HAPROXY_MAXCONN - 16)) -lt "$N" ]; then
    n=$((HAPROXY_MAXCONN - 16))
    note "HAProxy: the fd hard limit ($(ulimit -Hn)) caps its maxconn at $HAPROXY_MAXCONN (2 fds per connection), so it holds $n connections, not $N"
  fi
  log "$label: opening $n keep-alive connections, holding them ${HOLD}s"
  out="$WORK_DIR/idle-$proxy.txt"
  run_waited "$out" taskset -c "$CLIENT_CORE" timeout $((HOLD + 300)) python3 "$BENCH_DIR/idle_client.py" --port "$PROXY_PORT" \
    --pid "$PROXY_PID" -n "$n" --batch "$BATCH" --hold "$HOLD" --body 100 || true
  get() { sed -n "s/^$1=//p" "$out"; }
  if [ -z "$(get ok)" ]; then
    ROW[$proxy]="| $label | client failed | - | - | - | - |"
    note "$label: idle client failed: $(tail -1 "$out")"
  else
    ROW[$proxy]=$(awk -v l="$label" -v ok="$(get ok)" -v f="$(get failed)" -v c="$(get closed_during_hold)" \
      -v b="$(get rss_before_kib)" -v a="$(get rss_after_kib)" -v per="$(get bytes_per_conn)" \
      'BEGIN {printf "| %s | %d | %.1f | %.1f | %.2f | %d failed, %d closed by the proxy |", l, ok, b / 1024, a / 1024, per / 1024, f, c}')
    [ "$(get failed)" = 0 ] || note "$label: $(get failed) of $n connections failed to open or got a wrong response"
    [ "$(get closed_during_hold)" = 0 ] || note "$label: closed $(get closed_during_hold) idle connections during the ${HOLD}s hold"
  fi
  stop_pid "$PROXY_PID"
done

ver() { "$@" 2>&1 | head -1 | sed 's/[[:space:]]*$//'; }
TS=$(date +%Y%m%d-%H%M%S)
REPORT="$WORK_DIR/idle.md"
{
  echo "## Idle keep-alive connections, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "$N client connections (unless a note says otherwise), one keep-alive GET /100 each (200, 100-byte body checked), then held idle ${HOLD} s;"
  echo "proxy RSS (VmRSS, with its child processes) after a 2 s warm-up with no client connected, and at the end of the hold."
  echo
  echo "| proxy | connections held | RSS before MiB | RSS after MiB | KiB per idle conn | notes |"
  echo "|---|---:|---:|---:|---:|---|"
  for proxy in $PROXIES; do echo "${ROW[$proxy]}"; done
  echo
  echo "Proxy pinned to core $PROXY_CORE; the client (python3, selectors, batches of $BATCH) and the backend nginx on core $CLIENT_CORE."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
  echo "| nproc | $(nproc) |"
  echo "| CPU | $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) |"
  echo "| kernel | $(uname -r) |"
  echo "| nginx | $(ver nginx -v) |"
  echo "| HAProxy | $(ver haproxy -v) |"
  echo "| FastProxy | $FP_BUILD_DESC |"
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo
    echo "Notes:"
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
} >"$REPORT"
mkdir -p "$BENCH_DIR/results"
cp "$REPORT" "$BENCH_DIR/results/idle-$TS.md"
echo
cat "$REPORT"
echo
log "written to bench/load/results/idle-$TS.md"
