# shellcheck shell=bash
# Launching, watching and stopping Warren's service binaries. Sourced after infra.sh.

# The services, their ports and their environment are scripts/lib/generated/manifest.sh's,
# which infra.sh sources: WARREN_SERVICES, WARREN_SERVICE_PORT, WARREN_SERVICE_ADMIN_PORT,
# service_environment.

# WARREN_SERVICE_PORT_OFFSET moves every service's ports (public and admin) by that much, so that
# a second Warren (a test's scripts/up) runs beside the first.
WARREN_SERVICE_PORT_OFFSET=${WARREN_SERVICE_PORT_OFFSET:-0}

service_port() { echo $((${WARREN_SERVICE_PORT[$1]:?unknown service $1} + WARREN_SERVICE_PORT_OFFSET)); }
# The admin listener's port: /healthz, /readyz and /metrics, on loopback, never the public port.
service_admin_port() {
  echo $((${WARREN_SERVICE_ADMIN_PORT[$1]:?unknown service $1} + WARREN_SERVICE_PORT_OFFSET))
}

# service_port_environment NAME: sets WARREN_SERVICE_PORT_ENVIRONMENT to the port settings that
# go after the manifest's environment (the later value wins), with the offset applied.
service_port_environment() {
  # shellcheck disable=SC2034 # read by supervise.sh
  WARREN_SERVICE_PORT_ENVIRONMENT=("WARREN_HTTP__PORT=$(service_port "$1")"
    "WARREN_ADMIN__PORT=$(service_admin_port "$1")")
}

# Starts every service under the supervisor (scripts/lib/supervise.sh), the binaries in BIN_DIR.
services_start() {
  local bin_dir=$1 name port
  for name in "${WARREN_SERVICES[@]}"; do
    [ -x "$bin_dir/$name" ] || die "$bin_dir/$name is missing; build it (cargo build --release --workspace --bins)"
    port=$(service_port "$name")
    require_free_port "$port" "$name" "WARREN_SERVICE_PORT_OFFSET (or the service's port in manifest/src/lib.rs)"
    require_free_port "$(service_admin_port "$name")" "$name's admin listener" \
      "WARREN_SERVICE_PORT_OFFSET (or the service's admin_port in manifest/src/lib.rs)"
    log "starting $name on port $port"
  done
  supervisor_define services supervisor_service_programs "$bin_dir"
  supervisor_start "${WARREN_SERVICES[@]}"
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
  supervisor_gave_up "$1" && die "$1 did not start; see $WARREN_DATA_DIR/logs/$1.log and $WARREN_DATA_DIR/logs/supervision.log"
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

# Stops services that an earlier scripts/up, from before the supervisor, left running (each with
# a pid file); the supervisor stops its own.
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
