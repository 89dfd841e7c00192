#!/usr/bin/env bash
# Load benchmark: FastProxy, nginx and HAProxy in the same run, on the same machine, each pinned to the same core.
#
#   sudo bash bench/load/run.sh                       # all proxies, scenarios A B C, 10 s each
#   DURATION=5 PROXIES="nginx haproxy" bash bench/load/run.sh
#
# Environment (defaults in brackets):
#   DURATION [10]  WARMUP [3]  CONNECTIONS [50]     seconds per measured run / warm-up; wrk connections (-t1)
#   PROXIES ["fastproxy nginx haproxy"]  SCENARIOS ["A B C"]
#   ROUNDS [1]     rounds over all proxies (each proxy restarted per round); rows show the median round by req/s
#                  among the rounds measured on a quiet machine (all rounds if none was)
#   NOISY [10] RETRIES [2]  a measured run in which other processes took NOISY% or more of core 0 or core 1 is
#                  repeated up to RETRIES times (the machine may be shared)
#   QUIET_WAIT [30]  before each measured run, wait up to this many seconds for both cores to be idle
#   FASTPROXY_CMD     command that runs FastProxy, "-c FILE" is appended [publish src/Host into a temp dir]
#   FASTPROXY_START_TIMEOUT [20]  seconds FastProxy gets to answer on its port
#   FASTPROXY_GC_CMD  hook: run as "$FASTPROXY_GC_CMD PID" before and after each measured run; prints cumulative
#                     "gen0=N", "gen1=N", "gen2=N", "allocated=BYTES" lines (any subset)
#   GC_COUNTERS [auto]  auto: when no hook is set, a separate GC pass per scenario with dotnet-counters; off: none
#   FASTPROXY_DIAG_CMD  command for that GC pass [a publish with EventSourceSupport=true, or FASTPROXY_CMD]
#   PROXY_CORE [0]  CLIENT_CORE [1]  BACKEND_PORT [18080]  PROXY_PORT [18081]  KEEP_TMP [0]
#
# Needs root only to install missing packages (nginx, haproxy, wrk, curl via apt).
set -euo pipefail
# shellcheck source=bench/load/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-1}
PROXIES=${PROXIES:-"fastproxy nginx haproxy"}
SCENARIOS=${SCENARIOS:-"A B C"}
GC_COUNTERS=${GC_COUNTERS:-auto}
FASTPROXY_CMD=${FASTPROXY_CMD:-}
FASTPROXY_GC_CMD=${FASTPROXY_GC_CMD:-}

check_settings

ensure_commands nginx haproxy wrk curl taskset pgrep ss
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (proxy on core $PROXY_CORE, client and backend on core $CLIENT_CORE)"
taskset -c "$PROXY_CORE" true && taskset -c "$CLIENT_CORE" true || die "cannot pin to cores $PROXY_CORE and $CLIENT_CORE"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

setup_workdir
RAW="$WORK_DIR/raw.log"
: >"$RAW"
CLK_TCK=$(getconf CLK_TCK)

# wrk latency ("412.50us", "1.23ms", "1.02s", "1.00m") -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u != "ms") { print ""; exit }
    f = (n < 10) ? "%.3f" : "%.1f"; printf f, n }'
}

# parse_wrk FILE : sets W_RPS W_REQS W_P50 W_P99 W_ERRS (empty W_RPS when wrk printed no result).
parse_wrk() {
  local f=$1
  W_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  W_REQS=$(awk '/ requests in / {print $1}' "$f")
  W_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
  W_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
  W_ERRS=$(awk '/Non-2xx or 3xx responses:/ {e += $NF}
                /Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10}
                END {print e + 0}' "$f")
}

# Results per round are keyed "SCENARIO/PROXY#ROUND"; the report keys "SCENARIO/PROXY" hold the median round.
declare -A RES_CLEAN RES_RPS RES_P50 RES_P99 RES_CPU RES_BUSY RES_OTHER RES_ERRS RES_STATUS RES_SPREAD GC_G0 GC_G1 GC_G2 GC_ABPR GC_SRC
NOTES=()
note() { NOTES+=("$*"); log "$*"; }

# Cumulative GC numbers from the hook, as "gen0 gen1 gen2 allocated" (empty fields when not printed).
gc_hook_sample() {
  local out
  out=$(taskset -c "$CLIENT_CORE" timeout 30 $FASTPROXY_GC_CMD "$1" 2>/dev/null) || return 1
  awk -F= '{gsub(/[ \t\r]/, "")} $1=="gen0"{g0=$2} $1=="gen1"{g1=$2} $1=="gen2"{g2=$2} $1=="allocated"{a=$2}
           END {print (g0==""?"-":g0), (g1==""?"-":g1), (g2==""?"-":g2), (a==""?"-":a)}' <<<"$out"
}

# core_ticks CORE : "busy total" clock ticks of one core from /proc/stat (busy = all but idle, iowait, steal).
core_ticks() {
  awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, t}' /proc/stat
}

# children_ticks : sets CHILD_TICKS to the CPU ticks of this shell's finished children (wrk), from the "times"
# builtin. Call it directly, never in $(...): a subshell has no finished children of its own.
children_ticks() {
  times >"$WORK_DIR/times.txt"
  CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 {for (i = 1; i <= NF; i++) {v = $i; sub(/s$/, "", v); split(v, b, "m"); t += b[1] * 60 + b[2]}}
                        END {printf "%.0f", t * hz}' "$WORK_DIR/times.txt")
}

# pct PART WHOLE : PART as a whole percentage of WHOLE, floored at 0.
pct() { awk -v p="$1" -v w="$2" 'BEGIN {o = (w > 0) ? 100 * p / w : 0; printf "%.0f", (o < 0 ? 0 : o)}'; }

# measure PROXY PID SCENARIO ROUND : warm-up, then the measured run with CPU (and hook GC) sampled around it.
# The machine may be shared: when other processes took NOISY% (10) or more of either core during the run, the
# run is repeated, up to RETRIES (2) times, and the last attempt is kept, with a note.
measure() {
  local proxy=$1 pid=$2 scen=$3 key="$3/$1#$4" out="$WORK_DIR/wrk-$1-$3-$4.txt" label c0 c1 b0 b1 w0 w1 k0 k1 j0 j1
  local gc0="" gc1="" attempt other0 other1 noise best=101 keep=()
  label=$(proxy_label "$proxy")
  log "$label scenario $scen: warm-up ${WARMUP}s"
  run_wrk "$WORK_DIR/warmup.txt" "$WARMUP" "$scen"
  sleep 1
  if ! kill -0 "$pid" 2>/dev/null; then RES_STATUS[$key]="proxy died during warm-up"; return; fi
  for ((attempt = 1; attempt <= 1 + ${RETRIES:-2}; attempt++)); do
    wait_quiet || true
    [ "$proxy" = fastproxy ] && [ -n "$FASTPROXY_GC_CMD" ] && gc0=$(gc_hook_sample "$pid" || true)
    log "$label scenario $scen: measuring ${DURATION}s"
    k0=$(core_ticks "$PROXY_CORE") j0=$(core_ticks "$CLIENT_CORE")
    c0=$(cpu_ticks "$pid") b0=$(cpu_ticks "$BACKEND_PID")
    children_ticks
    w0=$CHILD_TICKS
    run_wrk "$out.$attempt" "$DURATION" "$scen"
    children_ticks
    w1=$CHILD_TICKS
    c1=$(cpu_ticks "$pid") b1=$(cpu_ticks "$BACKEND_PID")
    k1=$(core_ticks "$PROXY_CORE") j1=$(core_ticks "$CLIENT_CORE")
    [ "$proxy" = fastproxy ] && [ -n "$FASTPROXY_GC_CMD" ] && gc1=$(gc_hook_sample "$pid" || true)
    read -r -a k0 <<<"$k0"
    read -r -a k1 <<<"$k1"
    read -r -a j0 <<<"$j0"
    read -r -a j1 <<<"$j1"
    # Busy time of each core that neither the proxy (core 0) nor wrk and the backend (core 1) account for.
    other0=$(pct $((k1[0] - k0[0] - (c1 - c0))) $((k1[1] - k0[1])))
    other1=$(pct $((j1[0] - j0[0] - (b1 - b0) - (w1 - w0))) $((j1[1] - j0[1])))
    {
      echo "=== round $4, attempt $attempt: $label scenario $scen ($(scenario_label "$scen"))"
      cat "$out.$attempt"
      echo "--- ticks: proxy $((c1 - c0)); core $PROXY_CORE busy $((k1[0] - k0[0])) of $((k1[1] - k0[1])) (others ${other0}%);" \
        "backend $((b1 - b0)), wrk $((w1 - w0)); core $CLIENT_CORE busy $((j1[0] - j0[0])) of $((j1[1] - j0[1])) (others ${other1}%)"
      echo
    } >>"$RAW"
    # Keep the attempt that other processes disturbed least.
    noise=$((other0 > other1 ? other0 : other1))
    if [ "$noise" -lt "$best" ]; then
      best=$noise
      cp "$out.$attempt" "$out"
      keep=("$c0" "$c1" "${k0[1]}" "${k1[1]}" "$other0" "$other1" "$gc0" "$gc1")
    fi
    if [ "$noise" -lt "${NOISY:-10}" ]; then break; fi
    if [ "$attempt" -le "${RETRIES:-2}" ]; then
      log "other processes took ${other0}% of core $PROXY_CORE and ${other1}% of core $CLIENT_CORE: measuring again in 5 s"
      sleep 5
    else
      note "round $4, $label scenario $scen: the machine was not quiet in any of $attempt attempts; kept the least disturbed one (others ${keep[4]}% of core $PROXY_CORE, ${keep[5]}% of core $CLIENT_CORE)"
    fi
  done
  c0=${keep[0]} c1=${keep[1]} other0=${keep[4]} other1=${keep[5]} gc0=${keep[6]} gc1=${keep[7]}
  RES_CLEAN[$key]=$((best < ${NOISY:-10} ? 1 : 0))
  parse_wrk "$out"
  if [ -z "$W_RPS" ] || [ -z "$W_REQS" ] || [ "$W_REQS" = 0 ]; then
    RES_STATUS[$key]="wrk produced no result"
    note "round $4, $label scenario $scen: wrk produced no result: $(tail -2 "$out" | tr '\n' ' ')"
    return
  fi
  RES_STATUS[$key]=ok
  RES_RPS[$key]=$W_RPS RES_P50[$key]=$W_P50 RES_P99[$key]=$W_P99 RES_ERRS[$key]=$W_ERRS
  RES_CPU[$key]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$W_REQS" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  RES_BUSY[$key]=$(pct $((c1 - c0)) $((keep[3] - keep[2])))
  RES_OTHER[$key]="$other0% / $other1%"
  if [ "$W_ERRS" -gt $((W_REQS / 1000)) ]; then
    note "round $4, $label scenario $scen: $W_ERRS errors (non-2xx or socket) in $W_REQS requests; see the raw log"
  fi
  if [ -n "$gc0" ] && [ -n "$gc1" ]; then
    gc_store "$key" "$W_REQS" "$gc0" "$gc1" "FASTPROXY_GC_CMD during the measured run"
  fi
}

# gc_store KEY REQUESTS "g0 g1 g2 alloc" "g0 g1 g2 alloc" SOURCE : deltas of cumulative numbers.
gc_store() {
  local key=$1 reqs=$2 a b
  read -r -a a <<<"$3"
  read -r -a b <<<"$4"
  d() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else awk -v x="$1" -v y="$2" 'BEGIN {printf "%.0f", y - x}'; fi; }
  GC_G0[$key]=$(d "${a[0]}" "${b[0]}") GC_G1[$key]=$(d "${a[1]}" "${b[1]}") GC_G2[$key]=$(d "${a[2]}" "${b[2]}")
  if [ "${a[3]}" = - ] || [ "${b[3]}" = - ]; then GC_ABPR[$key]=-
  else GC_ABPR[$key]=$(awk -v x="${a[3]}" -v y="${b[3]}" -v n="$reqs" 'BEGIN {printf "%.1f", (y - x) / n}'); fi
  GC_SRC[$key]=$5
}

mark_all() { # mark_all PROXY ROUND STATUS
  local s
  for s in $SCENARIOS; do RES_STATUS["$s/$1#$2"]=$3; done
}

# aggregate : for each scenario/proxy, copy the median round (by req/s) to the report key, with the req/s range.
# Only rounds measured on a quiet machine count, unless there are none.
aggregate() {
  local scen proxy key r sorted n mid pick clean
  for scen in $SCENARIOS; do
    for proxy in $PROXIES; do
      key="$scen/$proxy"
      # Rounds measured on a quiet machine, if any; otherwise all rounds.
      clean=0
      for ((r = 1; r <= ROUNDS; r++)); do
        if [ "${RES_STATUS[$key#$r]:-}" = ok ] && [ "${RES_CLEAN[$key#$r]}" = 1 ]; then clean=$((clean + 1)); fi
      done
      sorted=$(for ((r = 1; r <= ROUNDS; r++)); do
        if [ "${RES_STATUS[$key#$r]:-}" = ok ] && { [ "$clean" = 0 ] || [ "${RES_CLEAN[$key#$r]}" = 1 ]; }; then
          echo "${RES_RPS[$key#$r]} $r"
        fi
      done | sort -g)
      n=$(grep -c . <<<"$sorted" || true)
      if [ "$n" = 0 ]; then
        RES_STATUS[$key]=${RES_STATUS[$key#$ROUNDS]:-${RES_STATUS[$key#1]:-not run}}
        continue
      fi
      mid=$(((n + 1) / 2))
      pick=$(sed -n "${mid}p" <<<"$sorted" | cut -d' ' -f2)
      RES_STATUS[$key]=ok
      for a in RES_CLEAN RES_RPS RES_P50 RES_P99 RES_CPU RES_BUSY RES_OTHER RES_ERRS GC_G0 GC_G1 GC_G2 GC_ABPR GC_SRC; do
        declare -n arr=$a
        [ -n "${arr[$key#$pick]:-}" ] && arr[$key]=${arr[$key#$pick]}
        unset -n arr
      done
      RES_SPREAD[$key]="$n of $ROUNDS$([ "$clean" = 0 ] && echo " (none quiet)" || echo " quiet"), $(head -1 <<<"$sorted" | awk '{printf "%.0f", $1}')–$(tail -1 <<<"$sorted" | awk '{printf "%.0f", $1}')"
    done
  done
}

PROXY_CONF="$WORK_DIR/proxy.conf"      # nginx syntax, read by nginx and FastProxy alike
HAPROXY_CONF="$WORK_DIR/haproxy.cfg"
write_nginx_proxy_conf "$PROXY_CONF" 4096
write_haproxy_conf "$HAPROXY_CONF" 4096
mkdir -p "$WORK_DIR/nginx-proxy"

start_backend "$WORK_DIR" 4096

FP_AVAILABLE=0

declare -A GAVE_UP=()   # proxies that failed in an earlier round are not retried
for ((round = 1; round <= ROUNDS; round++)); do
  for proxy in $PROXIES; do
    label=$(proxy_label "$proxy")
    if [ -n "${GAVE_UP[$proxy]:-}" ]; then mark_all "$proxy" "$round" "${GAVE_UP[$proxy]}"; continue; fi
    log "=== round $round/$ROUNDS: $label"
    if ! start_proxy "$proxy"; then
      if [ "$proxy" = fastproxy ]; then GAVE_UP[$proxy]="FastProxy: not available"; note "FastProxy: not available: $START_ERR"
      else GAVE_UP[$proxy]="$label: did not start"; note "$label: $START_ERR"; fi
      mark_all "$proxy" "$round" "${GAVE_UP[$proxy]}"
      continue
    fi
    [ "$proxy" = fastproxy ] && FP_AVAILABLE=1
    log "$label pid $PROXY_PID on core $PROXY_CORE, 127.0.0.1:$PROXY_PORT"
    if ! verify_proxy "$WORK_DIR" "$PROXY_PORT"; then
      GAVE_UP[$proxy]="$label: response check failed"
      mark_all "$proxy" "$round" "${GAVE_UP[$proxy]}"
      note "$label: response check failed, not measured: $CHECK_ERR"
      stop_pid "$PROXY_PID"
      continue
    fi
    [ "$round" = 1 ] && echo "$label: the backend saw $FORWARDED" >>"$RAW"
    for scen in $SCENARIOS; do measure "$proxy" "$PROXY_PID" "$scen" "$round"; done
    stop_pid "$PROXY_PID"
  done
done
aggregate

# ---------------------------------------------------------------------------------------------------------------
# FastProxy GC figures from dotnet-counters, in a separate pass so the counters session cannot skew the
# throughput rows: same scenarios, warm-up first, then DURATION seconds with the session attached.
GC_NOTE=""
ensure_dotnet_counters() {
  command -v dotnet-counters >/dev/null 2>&1 && return 0
  command -v dotnet >/dev/null 2>&1 || return 1
  log "installing dotnet-counters (dotnet tool install -g)"
  timeout 300 dotnet tool install -g dotnet-counters >"$WORK_DIR/dotnet-counters-install.log" 2>&1 || return 1
  command -v dotnet-counters >/dev/null 2>&1
}

# Sum the per-interval increments that "dotnet-counters collect --format csv" wrote.
counters_csv_sum() {
  awk -F, '
    /dotnet.gc.heap.total_allocated/ {a += $NF; sa = 1}
    /dotnet.gc.collections/ && /generation=gen0/ {g0 += $NF; s0 = 1}
    /dotnet.gc.collections/ && /generation=gen1/ {g1 += $NF; s1 = 1}
    /dotnet.gc.collections/ && /generation=gen2/ {g2 += $NF; s2 = 1}
    END {
      printf "%s %s %s %s\n", (s0 ? sprintf("%.0f", g0) : "-"), (s1 ? sprintf("%.0f", g1) : "-"),
                              (s2 ? sprintf("%.0f", g2) : "-"), (sa ? sprintf("%.0f", a) : "-") }' "$1"
}

gc_counters_pass() {
  local diag="" pid scen out csv dco session dur i key
  if ! ensure_dotnet_counters; then GC_NOTE="dotnet-counters is not installed and could not be installed; no GC figures (hook: FASTPROXY_GC_CMD)"; return; fi
  if [ -n "${FASTPROXY_DIAG_CMD:-}" ]; then diag=$FASTPROXY_DIAG_CMD
  elif [ -n "$FASTPROXY_CMD" ]; then diag=$FASTPROXY_CMD
  elif [[ $FASTPROXY_RUN == */aot/fastproxy ]]; then
    # A Native AOT binary has no diagnostics IPC unless built with EventSourceSupport: build one for this pass.
    if publish_fastproxy "$WORK_DIR/fastproxy-diag" "$WORK_DIR/fastproxy-diag-publish.log" -p:EventSourceSupport=true; then
      diag=$FASTPROXY_RUN
    else GC_NOTE="could not publish the diagnostics build: $FASTPROXY_ERR"; return; fi
  else diag=$FASTPROXY_RUN
  fi
  log "=== FastProxy GC pass (dotnet-counters), command: $diag"
  wait_port_free "$PROXY_PORT" || { GC_NOTE="port $PROXY_PORT still in use"; return; }
  if ! start_fastproxy "$diag" "$PROXY_CONF" "$WORK_DIR/fastproxy-diag.out"; then GC_NOTE="the diagnostics build did not start: $FASTPROXY_ERR"; return; fi
  pid=$FP_PID
  if ! verify_proxy "$WORK_DIR" "$PROXY_PORT"; then GC_NOTE="the diagnostics build failed the response check: $CHECK_ERR"; stop_pid "$pid"; return; fi
  dur=$((DURATION + 5))
  for scen in $SCENARIOS; do
    key="$scen/fastproxy"
    [ "${RES_STATUS[$key]:-}" = ok ] || continue
    out="$WORK_DIR/wrk-gc-$scen.txt" csv="$WORK_DIR/counters-$scen.csv" dco="$WORK_DIR/counters-$scen.out"
    log "FastProxy GC pass scenario $scen: warm-up ${WARMUP}s"
    run_wrk "$WORK_DIR/warmup.txt" "$WARMUP" "$scen"
    wait_quiet || true
    start_pinned "$CLIENT_CORE" "$dco" timeout $((dur + 30)) dotnet-counters collect -p "$pid" --refresh-interval 1 --format csv -o "$csv" \
      --counters 'System.Runtime[dotnet.gc.collections,dotnet.gc.heap.total_allocated]' \
      --duration "$(printf '00:00:%02d:%02d' $((dur / 60)) $((dur % 60)))"
    session=$STARTED_PID
    for ((i = 0; i < 200; i++)); do
      grep -q 'Starting a counter session' "$dco" 2>/dev/null && break
      kill -0 "$session" 2>/dev/null || break
      sleep 0.1
    done
    if ! grep -q 'Starting a counter session' "$dco" 2>/dev/null; then
      GC_NOTE="dotnet-counters could not attach to FastProxy: $(grep -v '^\s*$' "$dco" | head -1 | cut -c1-200)"
      stop_pid "$session"
      break
    fi
    sleep 2 # the first sample is the baseline
    log "FastProxy GC pass scenario $scen: measuring ${DURATION}s with dotnet-counters attached"
    run_wrk "$out" "$DURATION" "$scen"
    for ((i = 0; i < $((dur + 30)) * 10; i++)); do kill -0 "$session" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$session"
    { echo "=== FastProxy GC pass scenario $scen"; cat "$out"; echo "--- dotnet-counters csv"; cat "$csv" 2>/dev/null; echo; } >>"$RAW"
    parse_wrk "$out"
    if [ -z "$W_REQS" ] || [ "$W_REQS" = 0 ] || [ ! -s "$csv" ]; then
      GC_NOTE="GC pass scenario $scen produced no result"
      continue
    fi
    gc_store "$key" "$W_REQS" "0 0 0 0" "$(counters_csv_sum "$csv")" \
      "dotnet-counters, separate ${DURATION}s pass at $(printf '%.0f' "$W_RPS") req/s"
  done
  stop_pid "$pid"
}

if [ "$FP_AVAILABLE" = 1 ] && [ -z "$FASTPROXY_GC_CMD" ]; then
  if [ "$GC_COUNTERS" = off ]; then GC_NOTE="GC_COUNTERS=off"; else gc_counters_pass; fi
fi
[ -n "$GC_NOTE" ] && note "FastProxy GC: $GC_NOTE"

# ---------------------------------------------------------------------------------------------------------------
# Report.
ver() { "$@" 2>&1 | head -1 | sed 's/[[:space:]]*$//'; }
DOTNET_VER="not installed"
if command -v dotnet >/dev/null 2>&1; then
  DOTNET_VER="SDK $(dotnet --version 2>/dev/null), runtime $(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ {v = $2} END {print v}')"
fi
TS=$(date +%Y%m%d-%H%M%S)
REPORT="$WORK_DIR/report.md"

ratio() { # ratio KEY_NUM KEY_DEN
  if [ "${RES_STATUS[$1]:-}" = ok ] && [ "${RES_STATUS[$2]:-}" = ok ]; then
    awk -v a="${RES_RPS[$1]}" -v b="${RES_RPS[$2]}" 'BEGIN {printf "%.2f", a / b}'
  else echo n/a; fi
}

{
  echo "## Load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  spread_h="" spread_s=""
  if [ "$ROUNDS" -gt 1 ]; then spread_h=" rounds used, req/s range |" spread_s="---|"; fi
  echo "| scenario | proxy | req/s | p50 ms | p99 ms | CPU µs/req | proxy core busy | others core $PROXY_CORE / $CLIENT_CORE | errors |$spread_h"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|$spread_s"
  for scen in $SCENARIOS; do
    for proxy in $PROXIES; do
      key="$scen/$proxy"
      spread=""
      [ "$ROUNDS" -gt 1 ] && spread=" ${RES_SPREAD[$key]:--} |"
      if [ "${RES_STATUS[$key]:-}" = ok ]; then
        printf '| %s | %s | %.0f | %s | %s | %s | %s%% | %s | %s |%s\n' "$(scenario_label "$scen")" "$(proxy_label "$proxy")" \
          "${RES_RPS[$key]}" "${RES_P50[$key]}" "${RES_P99[$key]}" "${RES_CPU[$key]}" "${RES_BUSY[$key]}" \
          "${RES_OTHER[$key]}$([ "${RES_CLEAN[$key]}" = 1 ] || echo ' (busy)')" \
          "${RES_ERRS[$key]}" "$spread"
      else
        printf '| %s | %s | %s | - | - | - | - | - | - |%s\n' "$(scenario_label "$scen")" "$(proxy_label "$proxy")" \
          "${RES_STATUS[$key]:-not run}" "$spread"
      fi
    done
  done
  echo
  echo "| scenario | FastProxy/nginx req/s | FastProxy/HAProxy req/s |"
  echo "|---|---:|---:|"
  for scen in $SCENARIOS; do
    echo "| $scen | $(ratio "$scen/fastproxy" "$scen/nginx") | $(ratio "$scen/fastproxy" "$scen/haproxy") |"
  done
  echo
  if [[ " $PROXIES " == *" fastproxy "* ]]; then
    echo "FastProxy GC after warm-up (.NET runtime counters):"
    echo
    echo "| scenario | gen0 GCs | gen1 GCs | gen2 GCs | allocated B/req | source |"
    echo "|---|---:|---:|---:|---:|---|"
    for scen in $SCENARIOS; do
      key="$scen/fastproxy"
      if [ -n "${GC_SRC[$key]:-}" ]; then
        echo "| $scen | ${GC_G0[$key]} | ${GC_G1[$key]} | ${GC_G2[$key]} | ${GC_ABPR[$key]} | ${GC_SRC[$key]} |"
      else
        echo "| $scen | n/a | n/a | n/a | n/a | ${GC_NOTE:-${RES_STATUS[$key]:-not run}} |"
      fi
    done
    echo
  fi
  echo "Setup: wrk -t1 -c$CONNECTIONS, ${WARMUP} s warm-up then ${DURATION} s measured per row, $ROUNDS round(s) (each proxy"
  echo "restarted per round; rows show the median by req/s of the rounds measured on a quiet machine, or of all rounds"
  echo "when none was). Proxy pinned to core $PROXY_CORE; wrk and the backend"
  echo "(nginx, 1 worker) pinned to core $CLIENT_CORE. CPU µs/req = proxy utime+stime during the measured run / requests."
  echo "proxy core busy = proxy CPU time / wall time. others = busy time of core $PROXY_CORE not used by the proxy / of core"
  echo "$CLIENT_CORE not used by wrk and the backend (other tenants, kernel threads; a quiet run shows a few %; runs with"
  echo "${NOISY:-10}% or more are repeated up to ${RETRIES:-2} times). errors = non-2xx responses + wrk socket errors."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
  echo "| nproc | $(nproc) |"
  echo "| CPU | $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) |"
  echo "| kernel | $(uname -r) |"
  echo "| nginx | $(ver nginx -v) |"
  echo "| HAProxy | $(ver haproxy -v) |"
  echo "| wrk | $(ver wrk -v | cut -d' ' -f1-3) |"
  echo "| dotnet | $DOTNET_VER |"
  echo "| FastProxy | $FP_BUILD_DESC |"
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo
    echo "Notes:"
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
} >"$REPORT"

mkdir -p "$BENCH_DIR/results"
cp "$REPORT" "$BENCH_DIR/results/$TS.md"
cp "$RAW" "$BENCH_DIR/results/$TS.log"
echo
cat "$REPORT"
echo
log "written to bench/load/results/$TS.md (raw wrk output: $TS.log)"
