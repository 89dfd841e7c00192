#!/usr/bin/env bash
# Paired load benchmark: FastProxy against nginx and HAProxy in many short interleaved rounds, reported as the
# distribution of the per-round ratios. run.sh measures each proxy for DURATION seconds one after the other; on a
# machine whose speed shifts by 10-15% every few seconds (a shared VM), a few such rounds can land all of one proxy's
# runs in a slow phase. Here all three proxies run at once (idle ones sleep in epoll_wait), each round measures them
# back to back for a few seconds in a rotating order, and the ratio is taken within the round: a phase shift then
# moves both sides of most ratios alike, and the median over many rounds is the robust figure.
#
#   bash bench/load/paired.sh                          # scenario A, 20 rounds of 3 s per proxy
#   SCENARIOS="A B C" ROUNDS=12 bash bench/load/paired.sh
#   FASTPROXY_CMD=/opt/fastproxy/fastproxy bash bench/load/paired.sh
#
# Environment (defaults in brackets):
#   ROUNDS [20]  DURATION [3]  WARMUP [1]  CONNECTIONS [50]  SCENARIOS [A]  PROXIES ["fastproxy nginx haproxy"]
#   FASTPROXY_CMD  command that runs FastProxy, "-c FILE" is appended [publish src/Host into a temp dir]
#   PROXY_CORE [0]  CLIENT_CORE [1]  BACKEND_PORT [18080]  PROXY_PORT [18081: FastProxy; nginx +1, HAProxy +2]
#   KEEP_TMP [0]
#
# Needs root only to install missing packages (nginx, haproxy, wrk, curl via apt).
set -euo pipefail
# shellcheck source=bench/load/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-20}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-50}
SCENARIOS=${SCENARIOS:-A}
PROXIES=${PROXIES:-"fastproxy nginx haproxy"}
FASTPROXY_CMD=${FASTPROXY_CMD:-}

check_settings
case " $PROXIES " in *" fastproxy "*) ;; *) die "PROXIES must include fastproxy (the ratios are FastProxy's)" ;; esac
[ "$(echo $PROXIES | wc -w)" -ge 2 ] || die "PROXIES needs FastProxy and at least one peer"

ensure_commands nginx haproxy wrk curl taskset pgrep ss python3
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (proxies on core $PROXY_CORE, client and backend on core $CLIENT_CORE)"
taskset -c "$PROXY_CORE" true && taskset -c "$CLIENT_CORE" true || die "cannot pin to cores $PROXY_CORE and $CLIENT_CORE"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

setup_workdir
CLK_TCK=$(getconf CLK_TCK)
RESULTS="$WORK_DIR/results.tsv"
: >"$RESULTS"

# Each proxy on its own port, all pinned to PROXY_CORE; the configs are the ones run.sh uses.
BASE_PORT=$PROXY_PORT
declare -A PORT PID
PORT[fastproxy]=$BASE_PORT
PORT[nginx]=$((BASE_PORT + 1))
PORT[haproxy]=$((BASE_PORT + 2))

start_backend "$WORK_DIR" 4096
mkdir -p "$WORK_DIR/nginx-proxy"
for proxy in $PROXIES; do
  PROXY_PORT=${PORT[$proxy]}
  PROXY_CONF="$WORK_DIR/proxy-$proxy.conf"
  HAPROXY_CONF="$WORK_DIR/haproxy.cfg"
  write_nginx_proxy_conf "$PROXY_CONF" 4096
  [ "$proxy" = haproxy ] && write_haproxy_conf "$HAPROXY_CONF" 4096
  start_proxy "$proxy" || die "$(proxy_label "$proxy"): $START_ERR"
  verify_proxy "$WORK_DIR" "$PROXY_PORT" || die "$(proxy_label "$proxy"): response check failed: $CHECK_ERR"
  PID[$proxy]=$PROXY_PID
  log "$(proxy_label "$proxy") pid $PROXY_PID on core $PROXY_CORE, 127.0.0.1:$PROXY_PORT"
done

read -r -a ORDER <<<"$PROXIES"
n_proxies=${#ORDER[@]}
for scen in $SCENARIOS; do
  for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order every round, so no proxy always runs first (or right after another).
    for ((k = 0; k < n_proxies; k++)); do
      proxy=${ORDER[$(((round + k) % n_proxies))]}
      out="$WORK_DIR/wrk-$scen-$proxy-$round.txt"
      run_wrk "$out.warmup" "$WARMUP" "$scen" "${PORT[$proxy]}"
      t0=$(cpu_ticks "${PID[$proxy]}")
      g0=$(tcp_out_segs)
      run_wrk "$out" "$DURATION" "$scen" "${PORT[$proxy]}"
      g1=$(tcp_out_segs)
      t1=$(cpu_ticks "${PID[$proxy]}")
      rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
      p99=$(awk '$1 == "99%" {print $2}' "$out")
      errs=$(awk '/Non-2xx or 3xx responses:/ {e += $NF} /Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$out")
      [ -n "$rps" ] || die "wrk printed no result for $(proxy_label "$proxy") in scenario $scen (see $out)"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$round" "$proxy" "$rps" "$((t1 - t0))" "$p99" "$errs" "$((g1 - g0))" >>"$RESULTS"
    done
    log "scenario $scen round $round/$ROUNDS: $(awk -F'\t' -v s="$scen" -v r="$round" '$1 == s && $2 == r {printf "%s %.0f  ", $3, $4}' "$RESULTS")"
  done
done

REPORT="$WORK_DIR/report.md"
python3 "$BENCH_DIR/paired_report.py" "$RESULTS" "$CLK_TCK" "$DURATION" "$PROXIES" >"$REPORT"
{
  echo
  echo "Setup: wrk -t1 -c$CONNECTIONS; per round and proxy ${WARMUP} s warm-up then ${DURATION} s measured; $ROUNDS rounds per"
  echo "scenario, the proxies' order rotating. All proxies run for the whole benchmark on core $PROXY_CORE (idle while another"
  echo "is measured), wrk and the backend (nginx, 1 worker) on core $CLIENT_CORE. CPU µs/req = the proxy's utime+stime during"
  echo "its measured run / its requests; TCP segments/req = the machine's TCP segments sent during the run (client, proxy"
  echo "and backend together, /proc/net/snmp OutSegs) / its requests. FastProxy: $FP_BUILD_DESC."
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc --all) cores, kernel $(uname -r)."
} >>"$REPORT"

mkdir -p "$BENCH_DIR/results"
TS=$(date +%Y%m%d-%H%M%S)
cp "$REPORT" "$BENCH_DIR/results/paired-$TS.md"
cp "$RESULTS" "$BENCH_DIR/results/paired-$TS.tsv"
cat "$REPORT"
log "written to bench/load/results/paired-$TS.md (per run: paired-$TS.tsv)"
