# shellcheck shell=bash
# Launching, watching and stopping Warren's service binaries. Sourced after infra.sh.

ADMIN_USER_NAME=warren-admin
# service:port:postgres database (or -):uses mongo (0/1)
WARREN_SERVICES=(
  "tally-worker:8081:warren_votes:0"
  "user-service:8082:warren_users:0"
  "record-service:8085:warren_records:0"
  "locker-service:8083:-:1"
  "vote-service:8080:warren_votes:0"
  "locker-app:8084:warren_users:1"
)

service_field() {
  local wanted=$1 field=$2 entry
  for entry in "${WARREN_SERVICES[@]}"; do
    IFS=: read -r name port database mongo <<<"$entry"
    if [ "$name" = "$wanted" ]; then
      case $field in
        port) echo "$port" ;;
        database) echo "$database" ;;
        mongo) echo "$mongo" ;;
      esac
      return 0
    fi
  done
}

service_port() { service_field "$1" port; }

services_start() {
  local bin_dir=$1 entry name port database mongo password_var csrf_var
  for entry in "${WARREN_SERVICES[@]}"; do
    IFS=: read -r name port database mongo <<<"$entry"
    require_free_port "$port" "$name" "WARREN_SERVICES in scripts/lib/services.sh"
    password_var=$(echo "$name" | tr 'a-z-' 'A-Z_')_BROKER_PASSWORD
    local vars=(
      "WARREN_HTTP__PORT=$port"
      "WARREN_TELEMETRY__FORMAT=json"
      "WARREN_BROKER__NODES=$WARREN_AMQP_NODES"
      "WARREN_BROKER__VHOST=$WARREN_AMQP_VHOST"
      "WARREN_BROKER__PASSWORD=${!password_var}"
    )
    if [ "$database" != - ]; then
      vars+=("WARREN_POSTGRES__URL=$WARREN_POSTGRES_URL_BASE/$database" "WARREN_POSTGRES__PASSWORD=$POSTGRES_PASSWORD")
    fi
    if [ "$mongo" = 1 ]; then vars+=("WARREN_MONGO__URI=$WARREN_MONGO_URI"); fi
    # Frontends sign their forms with a secret that outlives a restart.
    csrf_var=$(echo "$name" | tr 'a-z-' 'A-Z_')_CSRF_SECRET
    if [ -n "${!csrf_var:-}" ]; then vars+=("WARREN_WEB__CSRF_SECRET=${!csrf_var}"); fi
    log "starting $name on port $port"
    env "${vars[@]}" "$bin_dir/$name" >>"$WARREN_DATA_DIR/logs/$name.log" 2>&1 &
    echo $! >"$WARREN_DATA_DIR/$name.pid"
  done
}

service_ready() { curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$(service_port "$1")/readyz"; }

services_wait_ready() {
  local seconds=$1 entry name
  for entry in "${WARREN_SERVICES[@]}"; do
    name=${entry%%:*}
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

services_list_urls() {
  local entry name
  for entry in "${WARREN_SERVICES[@]}"; do
    name=${entry%%:*}
    printf '                  %-15s http://127.0.0.1:%s/readyz\n' "$name" "$(service_port "$name")"
  done
}

# Blocks while the services run, reporting any that exits on its own.
services_watch() {
  local entry name pid
  local -A reported=()
  while true; do
    for entry in "${WARREN_SERVICES[@]}"; do
      name=${entry%%:*}
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
  local entry name pid
  for entry in "${WARREN_SERVICES[@]}"; do
    name=${entry%%:*}
    pid=$(cat "$WARREN_DATA_DIR/$name.pid" 2>/dev/null) || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for entry in "${WARREN_SERVICES[@]}"; do
    name=${entry%%:*}
    pid=$(cat "$WARREN_DATA_DIR/$name.pid" 2>/dev/null) || continue
    kill_and_wait "$pid" 20
    rm -f "$WARREN_DATA_DIR/$name.pid"
  done
}
