#!/usr/bin/env bash
# TLS load benchmark: FastProxy against nginx terminating TLS in front of the same plain backend.
#
#   bash bench/load/tls.sh                  # both proxies, both scenarios, 10 s each
#   DURATION=5 PROXIES=fastproxy bash bench/load/tls.sh
#   PAIRED=1 ROUNDS=16 bash bench/load/tls.sh   # both at once, short alternating rounds, per-round ratios
#
# Scenarios (wrk -t1, CONNECTIONS connections, 100-byte responses):
#   keepalive   HTTPS keep-alive requests/s (one handshake per connection, then requests)
#   handshake   a new TLS connection per request (wrk -H "Connection: close"): full handshakes/s
#   plain       the same keep-alive load over plain HTTP to the same server block (the baseline the TLS numbers
#               compare to; SCENARIOS="keepalive handshake" skips it)
#
# Both proxies get the same ECDSA P-256 certificate, the same protocols (TLSv1.2 TLSv1.3), the same TLS 1.2 cipher
# list, no session resumption (so every new connection is a full handshake on both), one worker pinned to
# PROXY_CORE; the backend (nginx, return 200) and wrk share CLIENT_CORE. wrk negotiates TLS 1.3 (the script prints
# what each proxy negotiated).
#
# Environment: DURATION [10] WARMUP [2] CONNECTIONS [50] PROXIES ["fastproxy nginx"] PROXY_CORE [0] CLIENT_CORE [1]
#   ROUNDS [1; 12 with PAIRED] rounds over all proxies (rows show each proxy's median round by req/s and the range)
#   PAIRED [0] 1: FastProxy and nginx run at the same time (nginx on the ports + 10); each round measures both back to
#   back (DURATION [3] s, WARMUP [1] s each, the order alternating) and the report (paired_report.py, as paired.sh's)
#   gives the median of the per-round ratios: on a machine whose speed shifts every few seconds, the figure to trust
#   QUIET_WAIT [30] before each measured run, wait up to this many seconds for both cores to be idle (90%)
#   PROXY_PORT [23443] BACKEND_PORT [23080] FASTPROXY_CMD (command running FastProxy, "-c FILE" appended;
#   default: dotnet publish of src/Host into the work dir) KEEP_TMP [0]
# Needs nginx, wrk, openssl, curl, taskset (apt-get install -y nginx wrk openssl curl util-linux when missing).
set -euo pipefail

PAIRED=${PAIRED:-0}
if [ "$PAIRED" = 1 ]; then
  DURATION=${DURATION:-3}
  WARMUP=${WARMUP:-1}
  ROUNDS=${ROUNDS:-12}
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-1}
QUIET_WAIT=${QUIET_WAIT:-30}
PROXIES=${PROXIES:-"fastproxy nginx"}
SCENARIOS=${SCENARIOS:-"keepalive handshake plain"}
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
# Below the ephemeral range (32768+), so a TIME_WAIT left by the load never blocks the next bind.
PROXY_PORT=${PROXY_PORT:-23443}
BACKEND_PORT=${BACKEND_PORT:-23080}
PLAIN_PORT=${PLAIN_PORT:-23081}
FASTPROXY_CMD=${FASTPROXY_CMD:-}
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# log, die and wait_quiet (both cores 90% idle for a second, up to QUIET_WAIT s) as run.sh has them; the defaults
# above come first, so lib.sh's own (ports, cores) do not replace them.
# shellcheck source=bench/load/lib.sh
source "$(dirname "$0")/lib.sh"
for tool in nginx wrk openssl curl taskset; do command -v "$tool" >/dev/null || die "$tool is missing"; done

WORK=$(mktemp -d /tmp/fastproxy-tls-bench.XXXXXX)
PIDS=()
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

wait_port() { # wait_port PORT SCHEME PID: up to 20 s for our process (PID) to answer 200 with the backend's body
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$3" 2>/dev/null || die "the process for port $1 exited (port taken?)"
    [ "$(curl -sk --max-time 1 "$2://127.0.0.1:$1/")" = "$BODY" ] && return 0
    sleep 0.1
  done
  die "nothing answers on $2://127.0.0.1:$1"
}

stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Certificate shared by both proxies.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.example.com \
  -addext subjectAltName=DNS:bench.example.com -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

BODY=$(printf 'x%.0s' $(seq 1 100))
cat >"$WORK/backend.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND_PORT; location / { return 200 "$BODY"; } } }
EOF

TLS_DIRECTIVES="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;
    ssl_session_cache off; ssl_session_tickets off;"
proxy_http() { # TLS_PORT PLAIN_PORT -> the http block both proxies run
  echo "access_log off; keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
  server { listen 127.0.0.1:$1 ssl; listen 127.0.0.1:$2; server_name bench.example.com;
    $TLS_DIRECTIVES
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
}
# Paired, both run at once: nginx listens 10 ports higher.
NGINX_OFFSET=0
[ "$PAIRED" = 1 ] && NGINX_OFFSET=10
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 4096; }
http { $(proxy_http $((PROXY_PORT + NGINX_OFFSET)) $((PLAIN_PORT + NGINX_OFFSET))) }
EOF
cat >"$WORK/fastproxy.conf" <<EOF
error_log $WORK/fastproxy.err;
events { worker_connections 4096; }
http { $(proxy_http "$PROXY_PORT" "$PLAIN_PORT") }
EOF

if [ -z "$FASTPROXY_CMD" ] && [[ " $PROXIES " == *" fastproxy "* ]]; then
  log "publishing FastProxy (Release)"
  dotnet publish "$REPO_ROOT/src/Host/FastProxy.Host.csproj" -c Release -o "$WORK/fastproxy" -p:UseAppHost=true \
    -p:MSBUILDDISABLENODEREUSE=1 --nologo -v q >"$WORK/publish.log" 2>&1 || { cat "$WORK/publish.log" >&2; die "publish failed"; }
  FASTPROXY_CMD="$WORK/fastproxy/fastproxy"
fi

taskset -c "$CLIENT_CORE" nginx -c "$WORK/backend.conf" -p "$WORK" &
PIDS+=($!)
wait_port "$BACKEND_PORT" http $!

RESULTS="$WORK/results.txt"
: >"$RESULTS"

start_proxy() { # PROXY: its pid in STARTED
  case "$1" in
    nginx) taskset -c "$PROXY_CORE" nginx -c "$WORK/nginx.conf" -p "$WORK" & ;;
    fastproxy) taskset -c "$PROXY_CORE" $FASTPROXY_CMD -c "$WORK/fastproxy.conf" & ;;
    *) die "unknown proxy $1" ;;
  esac
  STARTED=$!
  PIDS+=("$STARTED")
}

scenario_url() { # SCENARIO PORT_OFFSET
  if [ "$1" = plain ]; then echo "http://127.0.0.1:$((PLAIN_PORT + $2))/"; else echo "https://127.0.0.1:$((PROXY_PORT + $2))/"; fi
}

if [ "$PAIRED" = 1 ]; then
  [ "$(echo $PROXIES)" = "fastproxy nginx" ] || die "PAIRED=1 compares fastproxy with nginx: leave PROXIES unset"
  declare -A OFFSET PROXY_PID
  OFFSET[fastproxy]=0
  OFFSET[nginx]=$NGINX_OFFSET
  for proxy in $PROXIES; do
    start_proxy "$proxy"
    wait_port $((PROXY_PORT + OFFSET[$proxy])) https "$STARTED"
    PROXY_PID[$proxy]=$STARTED
    [ "$proxy" = nginx ] && PROXY_PID[nginx]=$(pgrep -P "$STARTED" | head -1) # the worker, whose CPU counts
  done
  for round in $(seq "$ROUNDS"); do
    order="fastproxy nginx"
    [ $((round % 2)) = 0 ] && order="nginx fastproxy"
    for scenario in $SCENARIOS; do
      hdr=()
      [ "$scenario" = handshake ] && hdr=(-H "Connection: close")
      for proxy in $order; do
        url=$(scenario_url "$scenario" "${OFFSET[$proxy]}")
        taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
        t0=$(cpu_ticks "${PROXY_PID[$proxy]}")
        out=$(taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$url" 2>&1 || true)
        t1=$(cpu_ticks "${PROXY_PID[$proxy]}")
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        errs=$(awk '/Non-2xx or 3xx responses:/ {e += $NF} /Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print e + 0}' <<<"$out")
        [ -n "$rps" ] || die "wrk printed no result for $proxy in $scenario: $out"
        printf '%s	%s	%s	%s	%s	%s	%s
' "$scenario" "$round" "$proxy" "$rps" "$((t1 - t0))" "$p99" "$errs" >>"$RESULTS"
      done
    done
    log "round $round of $ROUNDS: $(awk -F'	' -v r="$round" '$2 == r {printf "%s %s %.0f  ", $1, $3, $4}' "$RESULTS")"
  done
  echo
  echo "TLS load, paired: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, wrk -t1 -c$CONNECTIONS, $ROUNDS rounds of"
  echo "${WARMUP} s warm-up + ${DURATION} s measured per proxy (order alternating), both proxies running on core $PROXY_CORE."
  echo
  python3 "$BENCH_DIR/paired_report.py" "$RESULTS" "$(getconf CLK_TCK)" "$DURATION" "$PROXIES"
  exit 0
fi

for round in $(seq "$ROUNDS"); do
for proxy in $PROXIES; do
  start_proxy "$proxy"
  pid=$STARTED
  wait_port "$PROXY_PORT" https "$pid"
  negotiated=$(openssl s_client -connect "127.0.0.1:$PROXY_PORT" -servername bench.example.com </dev/null 2>/dev/null |
    sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is \(.*\)$/\1 \2/p' | head -1)
  log "$proxy: negotiated $negotiated"
  for scenario in $SCENARIOS; do
    hdr=()
    url="https://127.0.0.1:$PROXY_PORT/"
    [ "$scenario" = handshake ] && hdr=(-H "Connection: close")
    [ "$scenario" = plain ] && url="http://127.0.0.1:$PLAIN_PORT/"
    taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
    quiet=quiet
    wait_quiet || quiet=busy
    out=$(taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$url" 2>&1 || true)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Socket errors|Non-2xx/ {printf "%s ", $0}' <<<"$out")
    log "round $round $proxy $scenario ($quiet): ${rps:-none} req/s p50 $p50 p99 $p99 $errors"
    echo "$proxy $scenario ${rps:-0} $p50 $p99 $round $quiet ${errors:-}" >>"$RESULTS"
  done
  stop_pid "$pid"
done
done

echo
echo "TLS load, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), wrk -t1 -c$CONNECTIONS ${DURATION}s, proxy on core $PROXY_CORE"
echo
echo "| scenario | proxy | req/s | p50 | p99 | rounds (quiet of all), req/s range | errors |"
echo "|---|---|---:|---:|---:|---|---|"
# Each proxy's median round by req/s, among the quiet rounds when there are any.
median_row() { # scenario proxy -> "rps p50 p99 errors|quiet all min max"
  awk -v s="$1" -v p="$2" '$1 == p && $2 == s {n++; q += ($7 == "quiet"); line[n] = $0; r[n] = $3; ok[n] = ($7 == "quiet")
      if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3}
    END {if (!n) exit; m = 0; for (i = 1; i <= n; i++) if (q == 0 || ok[i]) idx[++m] = i
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (r[idx[j]] < r[idx[i]]) {t = idx[i]; idx[i] = idx[j]; idx[j] = t}
      split(line[idx[int((m + 1) / 2)]], f, " "); err = ""; for (k = 8; k in f; k++) err = err f[k] " "
      printf "%s %s %s %s|%d %d %s %s\n", f[3], f[4], f[5], err, q, n, min, max}' "$RESULTS"
}
for scenario in $SCENARIOS; do
  for proxy in $PROXIES; do
    row=$(median_row "$scenario" "$proxy")
    [ -n "$row" ] || continue
    read -r rps p50 p99 errors <<<"${row%%|*}"
    read -r q n min max <<<"${row#*|}"
    echo "| $scenario | $proxy | $rps | $p50 | $p99 | $q of $n, $min–$max | ${errors:-} |"
  done
done
for scenario in $SCENARIOS; do
  f=$(median_row "$scenario" fastproxy | cut -d' ' -f1)
  n=$(median_row "$scenario" nginx | cut -d' ' -f1)
  if [ -n "$f" ] && [ -n "$n" ] && [ "$n" != 0 ]; then
    echo "$scenario: FastProxy / nginx = $(awk -v f="$f" -v n="$n" 'BEGIN {printf "%.2f", f / n}') (medians)"
  fi
done
