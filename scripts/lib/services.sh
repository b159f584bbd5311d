# shellcheck shell=bash
# Launching, watching and stopping Warren's service binaries. Sourced after infra.sh.

# The services, their ports and their environment are scripts/lib/generated/manifest.sh's,
# which infra.sh sources: WARREN_SERVICES, WARREN_SERVICE_PORT, WARREN_SERVICE_ADMIN_PORT,
# service_environment.

service_port() { echo "${WARREN_SERVICE_PORT[$1]:?unknown service $1}"; }
# The admin listener's port: /healthz, /readyz and /metrics, on loopback, never the public port.
service_admin_port() { echo "${WARREN_SERVICE_ADMIN_PORT[$1]:?unknown service $1}"; }

services_start() {
  local bin_dir=$1 name port
  for name in "${WARREN_SERVICES[@]}"; do
    port=$(service_port "$name")
    require_free_port "$port" "$name" "the service's port in manifest/src/lib.rs"
    require_free_port "$(service_admin_port "$name")" "$name's admin listener" \
      "the service's admin_port in manifest/src/lib.rs"
    service_environment "$name" || die "scripts/lib/generated/manifest.sh has no environment for $name"
    log "starting $name on port $port"
    env "${WARREN_SERVICE_ENVIRONMENT[@]}" "$bin_dir/$name" >>"$WARREN_DATA_DIR/logs/$name.log" 2>&1 &
    echo $! >"$WARREN_DATA_DIR/$name.pid"
  done
}

service_ready() {
  curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$(service_admin_port "$1")$WARREN_READINESS_PATH"
}

services_wait_ready() {
  local seconds=$1 name
  for name in "${WARREN_SERVICES[@]}"; do
    wait_until "$seconds" "$name to be ready" service_alive_and_ready "$name" || return 1
    log "$name is ready"
  done
}

service_alive_and_ready() {
  local pid
  pid=$(cat "$WARREN_DATA_DIR/$1.pid")
  process_gone "$pid" && die "$1 exited; see $WARREN_DATA_DIR/logs/$1.log"
  service_ready "$1"
}

# Each service's readiness and metrics URLs, on its admin port.
services_list_urls() {
  local name base
  for name in "${WARREN_SERVICES[@]}"; do
    base="http://127.0.0.1:$(service_admin_port "$name")"
    printf '                  %-15s %s%s   %s/metrics\n' "$name" "$base" "$WARREN_READINESS_PATH" "$base"
  done
}

# Blocks while the services run, reporting any that exits on its own.
services_watch() {
  local name pid
  local -A reported=()
  while true; do
    for name in "${WARREN_SERVICES[@]}"; do
      pid=$(cat "$WARREN_DATA_DIR/$name.pid" 2>/dev/null) || continue
      if process_gone "$pid" && [ -z "${reported[$name]:-}" ]; then
        warn "$name exited; see $WARREN_DATA_DIR/logs/$name.log"
        reported[$name]=1
      fi
    done
    # Returns as soon as any child exits or a signal arrives.
    local code=0
    wait -n 2>/dev/null || code=$?
    if [ "$code" = 127 ]; then die "nothing is left running"; fi
    if [ "${#reported[@]}" -ge "${#WARREN_SERVICES[@]}" ]; then die "every service has exited"; fi
  done
}

services_stop() {
  local name pid
  for name in "${WARREN_SERVICES[@]}"; do
    pid=$(cat "$WARREN_DATA_DIR/$name.pid" 2>/dev/null) || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${WARREN_SERVICES[@]}"; do
    pid=$(cat "$WARREN_DATA_DIR/$name.pid" 2>/dev/null) || continue
    kill_and_wait "$pid" 20
    rm -f "$WARREN_DATA_DIR/$name.pid"
  done
}
