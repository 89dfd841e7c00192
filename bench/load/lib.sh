# Shared helpers for bench/load/run.sh and bench/load/idle-conns.sh. Sourced, never run.
#
# Everything started through start_pinned is recorded and killed (with its children) by the EXIT trap,
# whether the script ends normally, fails, or is interrupted. Every wait loop is bounded.

export PATH="$PATH:/usr/sbin:/sbin:$HOME/.dotnet/tools"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=${FASTPROXY_REPO:-$(cd "$BENCH_DIR/../.." && pwd)}

# Fixed layout: proxy under test alone on core 0; backend, load generator and helpers on core 1.
PROXY_CORE=${PROXY_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BACKEND_PORT=${BACKEND_PORT:-18080}
PROXY_PORT=${PROXY_PORT:-18081}

STARTED_PIDS=()
WORK_DIR=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# All live descendants of a pid (children first found, grandchildren after).
descendants() {
  local pid=$1 kids k
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  for k in $kids; do
    echo "$k"
    descendants "$k"
  done
}

# TERM a process and its descendants, wait up to 5 s, then KILL what is left.
kill_tree() {
  local pid=$1 all p i alive
  kill -0 "$pid" 2>/dev/null || return 0
  all="$pid $(descendants "$pid" | tr '\n' ' ')"
  for p in $all; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for p in $all; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    kill_tree "${STARTED_PIDS[$i]}"
  done
  if [ -n "$WORK_DIR" ] && [ -d "$WORK_DIR" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $WORK_DIR"; else rm -rf "$WORK_DIR"; fi
  fi
  exit "$rc"
}

setup_workdir() {
  WORK_DIR=$(mktemp -d /tmp/fastproxy-load.XXXXXX)
  # nginx workers run as an unprivileged user: they must be able to read the backend's files.
  chmod 755 "$WORK_DIR"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start_pinned CORE LOGFILE CMD... : start CMD on CORE in the background, remember its pid in STARTED_PID.
start_pinned() {
  local core=$1 logf=$2
  shift 2
  taskset -c "$core" "$@" >"$logf" 2>&1 </dev/null &
  STARTED_PID=$!
  STARTED_PIDS+=("$STARTED_PID")
}

# stop_pid PID : stop one started process (and its children) now rather than at exit.
stop_pid() {
  kill_tree "$1"
  forget_pid "$1"
}

forget_pid() {
  local i
  for i in "${!STARTED_PIDS[@]}"; do
    if [ "${STARTED_PIDS[$i]}" = "$1" ]; then unset 'STARTED_PIDS[i]'; fi
  done
  STARTED_PIDS=("${STARTED_PIDS[@]}")
}

# run_waited LOGFILE CMD... : run CMD in the background, tracked so the EXIT trap can kill it, and wait for it.
# Unlike a foreground command, a wait lets INT/TERM stop the script at once. Returns CMD's exit status.
run_waited() {
  local logf=$1 pid rc=0
  shift
  "$@" >"$logf" 2>&1 </dev/null &
  pid=$!
  STARTED_PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

# Install the Debian packages behind the given commands when they are missing (needs root).
ensure_commands() {
  local need=() cmd pkg
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 && continue
    case "$cmd" in
      taskset) pkg=util-linux ;;
      pgrep) pkg=procps ;;
      ss) pkg=iproute2 ;;
      *) pkg=$cmd ;;
    esac
    need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing: ${need[*]} (install them, or run as root so this script can)"
  log "installing with apt: ${need[*]}"
  timeout 600 apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after apt-get install"; done
}

# nofile_for CONNS : an fd limit for a process holding CONNS connections, capped by this shell's hard limit.
nofile_for() {
  local want=$(($1 * 2 + 1024)) hard
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$want" -gt "$hard" ]; then want=$hard; fi
  echo "$want"
}

# Sum of utime+stime (clock ticks) of a process and its live descendants, all threads included.
cpu_ticks() {
  local total=0 p stat rest
  for p in "$1" $(descendants "$1"); do
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    rest=${stat##*) }            # fields after "pid (comm) "; comm may hold spaces
    set -- $rest                 # $1 = state (field 3): utime is field 14, stime field 15
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# TCP segments sent by the whole machine so far (/proc/net/snmp, Tcp: OutSegs). Over a run on loopback with nothing
# else on the network, sent equals received: the segments of the client, the proxy and the backend together. A proxy
# that acknowledges separately or closes in more segments makes every core process more of them (benchmarks-load.md,
# "One ACK fewer per new connection").
tcp_out_segs() {
  awk '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 } else print $col["OutSegs"] }' /proc/net/snmp
}

# Sum of VmRSS (KiB) of a process and its live descendants.
rss_kib() {
  local total=0 p v
  for p in "$1" $(descendants "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# wait_quiet : wait (at most QUIET_WAIT seconds, default 30) until, over one second, neither core 0 nor core 1 was
# more than 10% busy. Call it while everything this script started is idle: what is busy then is someone else
# (the machine may be shared). Returns 1 if the machine never went quiet.
wait_quiet() {
  local i a b
  for ((i = 0; i < ${QUIET_WAIT:-30}; i++)); do
    a=$(awk -v c0="cpu$PROXY_CORE" -v c1="cpu$CLIENT_CORE" '$1 == c0 || $1 == c1 {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat | tr '\n' ' ')
    sleep 1
    b=$(awk -v c0="cpu$PROXY_CORE" -v c1="cpu$CLIENT_CORE" '$1 == c0 || $1 == c1 {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat | tr '\n' ' ')
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x); split(b, y)
      for (k = 1; k <= 3; k += 2) {busy = y[k] - x[k]; all = busy + y[k + 1] - x[k + 1]; if (all > 0 && busy * 10 > all) exit 1}
      exit 0}' && return 0
    [ "$i" = 0 ] && log "the machine is busy (someone else's processes); waiting up to ${QUIET_WAIT:-30} s for it to go quiet"
  done
  return 1
}

# True once nothing listens on 127.0.0.1:PORT (bounded: 10 s).
wait_port_free() {
  local port=$1 i
  for ((i = 0; i < 100; i++)); do
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || return 0
    sleep 0.1
  done
  return 1
}

# wait_http PORT PID TIMEOUT_S : 0 once the port answers any HTTP status, 2 if PID exited, 1 on timeout.
wait_http() {
  local port=$1 pid=$2 timeout_s=$3 i code
  for ((i = 0; i < timeout_s * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 2
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/100" 2>/dev/null || true)
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Scenarios and names shared by run.sh, paired.sh and idle-conns.sh (CONNECTIONS is read when they are called).

scenario_path() { case "$1" in A | C) echo /100 ;; B) echo /16k ;; esac; }
scenario_label() {
  case "$1" in
    A) echo "A: 100 B, $CONNECTIONS keep-alive conns" ;;
    B) echo "B: 16 KiB, $CONNECTIONS keep-alive conns" ;;
    C) echo "C: 100 B, new conn per request, $CONNECTIONS conns" ;;
  esac
}
proxy_label() { case "$1" in fastproxy) echo FastProxy ;; nginx) echo nginx ;; haproxy) echo HAProxy ;; esac; }

# check_settings : DURATION WARMUP CONNECTIONS ROUNDS positive integers, PROXIES and SCENARIOS known ones.
check_settings() {
  local v p s
  for v in DURATION WARMUP CONNECTIONS ROUNDS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
  done
  for p in $PROXIES; do case "$p" in fastproxy | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES" ;; esac; done
  for s in $SCENARIOS; do case "$s" in A | B | C) ;; *) die "unknown scenario '$s' in SCENARIOS" ;; esac; done
}

# run_wrk OUTFILE SECONDS SCENARIO [PORT] : wrk pinned to the client core, against PORT (PROXY_PORT by default);
# -H "Connection: close" for scenario C.
run_wrk() {
  local out=$1 secs=$2 scen=$3 port=${4:-$PROXY_PORT} hdr=()
  [ "$scen" = C ] && hdr=(-H "Connection: close")
  run_waited "$out" taskset -c "$CLIENT_CORE" timeout $((secs + 60)) \
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency "${hdr[@]}" "http://127.0.0.1:$port$(scenario_path "$scen")" || true
}

# ---------------------------------------------------------------------------------------------------------------
# Backend: Debian's nginx with its own config, 100-byte body on /100 (return 200) and 16 KiB file on /16k.

BODY_100="fastproxy-load-benchmark-100-byte-body:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
BODY_16K_SIZE=16384

write_backend_files() {
  local dir=$1 conns=$2
  [ ${#BODY_100} -eq 100 ] || die "internal: BODY_100 is ${#BODY_100} bytes, not 100"
  mkdir -p "$dir/www" "$dir/backend-temp"
  printf '%s' "$BODY_100" >"$dir/body100.expected"
  # 16 KiB of printable bytes, exact size.
  awk -v n="$BODY_16K_SIZE" 'BEGIN { while (length(s) < n) s = s "fastproxy-load-benchmark-16KiB-body-0123456789abcdefghijklmnopqrstuvwxyz\n"
                                    printf "%s", substr(s, 1, n) }' >"$dir/www/16k"
  [ "$(stat -c %s "$dir/www/16k")" -eq "$BODY_16K_SIZE" ] || die "internal: 16 KiB file has the wrong size"
  chmod 755 "$dir/www" && chmod 644 "$dir/www/16k"
  cat >"$dir/backend.conf" <<EOF
# Backend for the load benchmark (generated by bench/load; not the system's config).
worker_processes 1;
daemon off;
pid $dir/backend.pid;
error_log $dir/backend-error.log warn;
worker_rlimit_nofile $(nofile_for "$conns");
events {
    worker_connections $((conns + 1024));
}
http {
    access_log off;
    sendfile on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_body_temp_path $dir/backend-temp/body;
    proxy_temp_path $dir/backend-temp/proxy;
    fastcgi_temp_path $dir/backend-temp/fastcgi;
    uwsgi_temp_path $dir/backend-temp/uwsgi;
    scgi_temp_path $dir/backend-temp/scgi;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        root $dir/www;
        location = /100 {
            default_type text/plain;
            return 200 "$BODY_100";
        }
        location = /16k {
            default_type application/octet-stream;
        }
        # Used once per proxy before measuring, to check that the forwarded headers are alike.
        location = /echo-headers {
            default_type text/plain;
            return 200 "host=\$http_host|x-real-ip=\$http_x_real_ip|x-forwarded-for=\$http_x_forwarded_for|x-forwarded-proto=\$http_x_forwarded_proto|connection=\$http_connection\n";
        }
    }
}
EOF
}

BACKEND_PID=""
start_backend() {
  local dir=$1 conns=${2:-4096}
  write_backend_files "$dir" "$conns"
  wait_port_free "$BACKEND_PORT" || die "port $BACKEND_PORT is already in use (set BACKEND_PORT)"
  start_pinned "$CLIENT_CORE" "$dir/backend.out" nginx -p "$dir/" -e "$dir/backend-error.log" -c "$dir/backend.conf"
  BACKEND_PID=$STARTED_PID
  wait_http "$BACKEND_PORT" "$BACKEND_PID" 10 || { cat "$dir/backend.out" "$dir/backend-error.log" >&2 2>/dev/null; die "backend nginx did not start"; }
  check_body "http://127.0.0.1:$BACKEND_PORT/100" 100 "$dir/body100.expected" "$dir/check.body" \
    || die "backend /100 is wrong: $CHECK_ERR"
  check_body "http://127.0.0.1:$BACKEND_PORT/16k" "$BODY_16K_SIZE" "$dir/www/16k" "$dir/check.body" \
    || die "backend /16k is wrong: $CHECK_ERR"
  log "backend nginx pid $BACKEND_PID on core $CLIENT_CORE, 127.0.0.1:$BACKEND_PORT"
}

# check_body URL SIZE EXPECTED_FILE TMPFILE [curl args...] : status 200, exact size, exact bytes.
CHECK_ERR=""
check_body() {
  local url=$1 size=$2 expected=$3 tmp=$4 out code got
  shift 4
  out=$(curl -s -m 5 -o "$tmp" -w '%{http_code} %{size_download}' "$@" "$url" 2>&1) || { CHECK_ERR="curl $url failed ($out)"; return 1; }
  read -r code got <<<"$out"
  [ "$code" = 200 ] || { CHECK_ERR="$url answered status $code (expected 200)"; return 1; }
  [ "$got" = "$size" ] || { CHECK_ERR="$url returned $got body bytes (expected $size)"; return 1; }
  cmp -s "$tmp" "$expected" || { CHECK_ERR="$url returned $size bytes but not the backend's bytes"; return 1; }
  return 0
}

# verify_proxy DIR PORT : the proxy returns exactly the backend's bodies, with and without keep-alive.
verify_proxy() {
  local dir=$1 port=$2 base="http://127.0.0.1:$2" n
  check_body "$base/100" 100 "$dir/body100.expected" "$dir/check.body" || return 1
  check_body "$base/16k" "$BODY_16K_SIZE" "$dir/www/16k" "$dir/check.body" || return 1
  check_body "$base/100" 100 "$dir/body100.expected" "$dir/check.body" -H 'Connection: close' || return 1
  # The backend must see the forwarded headers every proxy is configured to send.
  FORWARDED=$(curl -s -m 5 "$base/echo-headers" 2>/dev/null || true)
  local h
  for h in host x-real-ip x-forwarded-for x-forwarded-proto; do
    case "$FORWARDED" in
      *"$h=|"* | "") CHECK_ERR="the backend did not receive $h through the proxy (it saw: ${FORWARDED:-nothing})"; return 1 ;;
    esac
  done
  # Keep-alive: two requests through curl should use a single connection.
  n=$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' "$base/100" "$base/100" 2>/dev/null | tail -1)
  [ "$n" = 0 ] || log "warning: the proxy on port $port did not keep the client connection alive (second request opened a new connection)"
  return 0
}

# ---------------------------------------------------------------------------------------------------------------
# Proxy configs. nginx and FastProxy read the very same nginx-syntax file; HAProxy gets the equivalent.

write_nginx_proxy_conf() {
  local file=$1 conns=$2
  cat >"$file" <<EOF
# Reverse proxy under test (generated by bench/load). Read as-is by both nginx and FastProxy.
worker_processes 1;
worker_rlimit_nofile $(nofile_for "$conns");
events {
    worker_connections $((conns + 1024));
}
http {
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
}

# HAProxy reserves two fds per connection (client and server side) and refuses to start when maxconn does not fit
# under the fd hard limit, so maxconn is capped there: HAPROXY_MAXCONN says what it got.
HAPROXY_MAXCONN=0
write_haproxy_conf() {
  local file=$1 conns=$2 hard
  HAPROXY_MAXCONN=$((conns + 1024))
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ $((HAPROXY_MAXCONN * 2 + 64)) -gt "$hard" ]; then
    HAPROXY_MAXCONN=$(((hard - 64) / 2))
  fi
  cat >"$file" <<EOF
# Reverse proxy under test (generated by bench/load): the HAProxy equivalent of the nginx-syntax config.
global
    nbthread 1
    maxconn $HAPROXY_MAXCONN
    # no "log" line: no logging at all

defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout http-keep-alive 65s

frontend fe
    bind 127.0.0.1:$PROXY_PORT
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto http
    default_backend be

backend be
    server backend 127.0.0.1:$BACKEND_PORT
EOF
}

# ---------------------------------------------------------------------------------------------------------------
# FastProxy build. Sets FASTPROXY_RUN (a command line, without "-c FILE") or FASTPROXY_ERR.

FASTPROXY_RUN=""
FASTPROXY_ERR=""
FASTPROXY_BUILD=""

# publish_fastproxy OUTDIR LOG [extra msbuild args...] : dotnet publish src/Host, Native AOT as the project
# says, falling back to a framework-dependent (JIT) publish. Builds under OUTDIR's artifacts, never in src/.
publish_fastproxy() {
  local out=$1 logf=$2
  shift 2
  FASTPROXY_RUN="" FASTPROXY_ERR=""
  command -v dotnet >/dev/null 2>&1 || { FASTPROXY_ERR="dotnet SDK not found"; return 1; }
  [ -d "$REPO_ROOT/src/Host" ] || { FASTPROXY_ERR="$REPO_ROOT/src/Host not found"; return 1; }
  log "publishing FastProxy from $REPO_ROOT (log: $logf)"
  if run_waited "$logf" timeout 900 dotnet publish "$REPO_ROOT/src/Host" -c Release -o "$out/aot" --artifacts-path "$out/artifacts-aot" --disable-build-servers "$@" \
    && [ -x "$out/aot/fastproxy" ]; then
    FASTPROXY_RUN="$out/aot/fastproxy"
    FASTPROXY_BUILD="dotnet publish -c Release (Native AOT, as src/Host says)${*:+ $*}"
    return 0
  fi
  log "Native AOT publish failed; trying a framework-dependent publish"
  if run_waited "$logf.jit" timeout 900 dotnet publish "$REPO_ROOT/src/Host" -c Release -o "$out/jit" --artifacts-path "$out/artifacts-jit" --disable-build-servers -p:PublishAot=false "$@"; then
    if [ -x "$out/jit/fastproxy" ]; then FASTPROXY_RUN="$out/jit/fastproxy"
    elif [ -f "$out/jit/fastproxy.dll" ]; then FASTPROXY_RUN="dotnet $out/jit/fastproxy.dll"
    fi
  fi
  if [ -z "$FASTPROXY_RUN" ]; then
    FASTPROXY_ERR="dotnet publish src/Host failed ($(cat "$logf" "$logf.jit" 2>/dev/null | grep -m1 -E 'error [A-Z]+[0-9]+' | sed 's/^ *//' | cut -c1-160))"
    return 1
  fi
  FASTPROXY_BUILD="dotnet publish -c Release -p:PublishAot=false (framework-dependent, JIT)${*:+ $*}"
  return 0
}

# start_fastproxy CMDLINE CONF LOG : sets FP_PID or FASTPROXY_ERR. FastProxy must answer within FASTPROXY_START_TIMEOUT.
FP_PID=""
start_fastproxy() {
  local cmdline=$1 conf=$2 logf=$3 rc cmd
  read -r -a cmd <<<"$cmdline"
  start_pinned "$PROXY_CORE" "$logf" env DOTNET_gcServer=0 DOTNET_TieredPGO=1 "${cmd[@]}" -c "$conf"
  FP_PID=$STARTED_PID
  rc=0
  wait_http "$PROXY_PORT" "$FP_PID" "${FASTPROXY_START_TIMEOUT:-20}" || rc=$?
  if [ "$rc" = 0 ]; then return 0; fi
  if [ "$rc" = 2 ]; then
    wait "$FP_PID" 2>/dev/null && rc=0 || rc=$?
    FASTPROXY_ERR="exited with code $rc: $(grep -v '^\s*$' "$logf" | tail -1 | cut -c1-160)"
    [[ $FASTPROXY_ERR == *": " ]] && FASTPROXY_ERR="exited with code $rc, printing nothing"
  else
    FASTPROXY_ERR="answered nothing on 127.0.0.1:$PROXY_PORT within ${FASTPROXY_START_TIMEOUT:-20} s"
  fi
  stop_pid "$FP_PID"
  FP_PID=""
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Starting the proxies under test, each pinned to PROXY_CORE.

FP_BUILD_DESC="not built"
fastproxy_command() { # sets FASTPROXY_RUN, or FASTPROXY_ERR
  if [ -n "${FASTPROXY_CMD:-}" ]; then
    FASTPROXY_RUN=$FASTPROXY_CMD
    FP_BUILD_DESC="FASTPROXY_CMD=$FASTPROXY_CMD"
    return 0
  fi
  publish_fastproxy "$WORK_DIR/fastproxy" "$WORK_DIR/fastproxy-publish.log" || return 1
  FP_BUILD_DESC="$FASTPROXY_BUILD, commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# start_proxy PROXY : sets PROXY_PID, or returns 1 with START_ERR. Uses WORK_DIR, PROXY_CONF and HAPROXY_CONF.
start_proxy() {
  local proxy=$1 rc=0
  PROXY_PID="" START_ERR=""
  wait_port_free "$PROXY_PORT" || { START_ERR="port $PROXY_PORT still in use"; return 1; }
  case "$proxy" in
    nginx)
      mkdir -p "$WORK_DIR/nginx-proxy"
      start_pinned "$PROXY_CORE" "$WORK_DIR/nginx-proxy.out" nginx -p "$WORK_DIR/nginx-proxy/" -e "$WORK_DIR/nginx-proxy-error.log" \
        -c "$PROXY_CONF" -g "daemon off; pid $WORK_DIR/nginx-proxy.pid;"
      ;;
    haproxy)
      start_pinned "$PROXY_CORE" "$WORK_DIR/haproxy.out" haproxy -db -f "$HAPROXY_CONF"
      ;;
    fastproxy)
      if [ -z "$FASTPROXY_RUN" ] && ! fastproxy_command; then START_ERR=$FASTPROXY_ERR; return 1; fi
      start_fastproxy "$FASTPROXY_RUN" "$PROXY_CONF" "$WORK_DIR/fastproxy.out" || { START_ERR=$FASTPROXY_ERR; return 1; }
      PROXY_PID=$FP_PID
      return 0
      ;;
  esac
  PROXY_PID=$STARTED_PID
  wait_http "$PROXY_PORT" "$PROXY_PID" 10 || rc=$?
  if [ "$rc" != 0 ]; then
    START_ERR="did not start: $(tail -3 "$WORK_DIR/$proxy"*.out "$WORK_DIR/nginx-proxy-error.log" 2>/dev/null | grep -v '^==>' | grep . | tail -1)"
    stop_pid "$PROXY_PID"
    return 1
  fi
}
