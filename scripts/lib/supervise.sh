# shellcheck shell=bash
# supervisord runs what scripts/up starts: PostgreSQL, SecantusDB, the three RabbitMQ nodes and
# the services, each restarted when it exits, with a growing pause between quick exits (1 s,
# 2 s, 3 s, ...), and left stopped (FATAL) after SUPERVISOR_START_RETRIES of them: a crash loop
# is reported, with the last lines of the program's log, not restarted forever. The event
# listener scripts/lib/supervision_events.py writes those reports to logs/supervision.log,
# counts each program's starts for scripts/status, and stops a program that keeps exiting after
# it had started (SUPERVISOR_CRASH_LOOP_EXITS within SUPERVISOR_CRASH_LOOP_SECONDS), which
# supervisord would restart forever. Sourced after infra.sh and services.sh.
#
# Everything lives in WARREN_DATA_DIR/supervisor: supervisord.conf and conf.d/ (mode 0600: the
# programs' environment holds their passwords), the control socket (WARREN_DATA_DIR/
# supervisor.sock, mode 0700), supervisord's pid file and the start counts.

SUPERVISOR_START_RETRIES=${SUPERVISOR_START_RETRIES:-4}
# A program that exits this many times within this many seconds after it had started (which
# supervisord restarts at once, every time) is stopped by the event listener and reported.
SUPERVISOR_CRASH_LOOP_EXITS=${SUPERVISOR_CRASH_LOOP_EXITS:-5}
SUPERVISOR_CRASH_LOOP_SECONDS=${SUPERVISOR_CRASH_LOOP_SECONDS:-600}

supervisor_bin() { echo "$WARREN_TOOLS_DIR/supervisor/bin"; }
supervisor_dir() { echo "$WARREN_DATA_DIR/supervisor"; }
supervisor_conf() { echo "$WARREN_DATA_DIR/supervisor/supervisord.conf"; }
supervisor_socket() { echo "$WARREN_DATA_DIR/supervisor.sock"; }
supervisor_pid() { cat "$WARREN_DATA_DIR/supervisor/supervisord.pid" 2>/dev/null; }

supervisorctl_run() { "$(supervisor_bin)/supervisorctl" -c "$(supervisor_conf)" "$@"; }

# Whether a supervisord of this data directory answers on its socket.
supervisor_answers() {
  [ -f "$(supervisor_conf)" ] && [ -S "$(supervisor_socket)" ] && supervisorctl_run pid >/dev/null 2>&1
}

# supervisor_state NAME: the program's state (RUNNING, STARTING, BACKOFF, FATAL, STOPPED, ...).
supervisor_state() {
  local line
  line=$(supervisorctl_run status "$1" 2>/dev/null) || true
  read -r _ state _ <<<"$line"
  echo "${state:-UNKNOWN}"
}

# Whether the supervisor stopped restarting NAME: it crash-looped (FATAL), or someone stopped it.
supervisor_gave_up() {
  case $(supervisor_state "$1") in FATAL | STOPPED | EXITED) return 0 ;; *) return 1 ;; esac
}

# supervisor_start NAME...: starts the programs together. supervisorctl waits for each to stay up
# for its startsecs; whether it then serves is for the caller to wait for.
supervisor_start() {
  local name jobs=()
  for name; do
    supervisorctl_run start "$name" >>"$WARREN_DATA_DIR/logs/supervisord.log" 2>&1 &
    jobs+=($!)
  done
  for name in "${jobs[@]}"; do wait "$name" || true; done
}

# A word for supervisord's configuration: double-quoted, with its own escapes (\" and \\ in
# quotes, %% for its %(name)s expansion).
supervisor_quote() {
  local word=$1
  [[ $word != *$'\n'* ]] || die "a value for supervisord.conf holds a line break"
  word=${word//\\/\\\\}
  word=${word//\"/\\\"}
  word=${word//%/%%}
  printf '"%s"' "$word"
}

# supervisor_program NAME PRIORITY STARTSECS STOPSIGNAL STOPWAITSECS LOGFILE USER -- COMMAND...
# writes one [program:NAME] section; SUPERVISOR_ENV (NAME=VALUE words) is its environment.
supervisor_program() {
  local name=$1 priority=$2 startsecs=$3 stopsignal=$4 stopwait=$5 logfile=$6 user=$7
  shift 8
  local word command=() environment=() entry
  for word; do command+=("$(supervisor_quote "$word")"); done
  for entry in "${SUPERVISOR_ENV[@]}"; do
    environment+=("${entry%%=*}=$(supervisor_quote "${entry#*=}")")
  done
  printf '[program:%s]\n' "$name"
  printf 'command=%s\n' "${command[*]}"
  printf 'priority=%s\nautostart=false\nautorestart=true\n' "$priority"
  printf 'startsecs=%s\nstartretries=%s\n' "$startsecs" "$SUPERVISOR_START_RETRIES"
  printf 'stopsignal=%s\nstopwaitsecs=%s\nkillasgroup=true\n' "$stopsignal" "$stopwait"
  printf 'redirect_stderr=true\nstdout_logfile=%s\n' "${logfile//%/%%}"
  printf 'stdout_logfile_maxbytes=50MB\nstdout_logfile_backups=5\n'
  if [ -n "$user" ]; then printf 'user=%s\n' "$user"; fi
  if ((${#environment[@]})); then
    local IFS=,
    printf 'environment=%s\n' "${environment[*]}"
  fi
  printf '\n'
}

# The settings the other scripts need to find this run's servers (no secrets).
supervisor_save_settings() {
  local var
  for var in WARREN_RABBIT_PREFIX WARREN_AMQP_BASE_PORT WARREN_MGMT_BASE_PORT WARREN_DIST_BASE_PORT \
    WARREN_PROMETHEUS_BASE_PORT WARREN_PG_PORT WARREN_MONGO_PORT WARREN_SERVICE_PORT_OFFSET \
    WARREN_LISTEN_ADDRESS WARREN_TOOLS_DIR; do
    printf '%s=%q\n' "$var" "${!var:-}"
  done >"$(supervisor_dir)/settings.env"
}

# Writes supervisord.conf (the supervisor itself and its event listener) and starts supervisord
# in the foreground as a child of this shell; returns once it answers.
supervisor_launch() {
  local dir conf bin
  dir=$(supervisor_dir)
  conf=$(supervisor_conf)
  bin=$(supervisor_bin)
  mkdir -p "$dir/conf.d" "$dir/starts" "$WARREN_DATA_DIR/logs"
  chmod 700 "$dir"
  rm -f "$dir"/conf.d/*.conf "$dir"/starts/*
  supervisor_save_settings
  (
    umask 077
    cat >"$conf" <<CONF
; Written by scripts/up at every start; edits are lost. Mode 0600: the programs' environment
; holds their passwords.
[unix_http_server]
file=$(supervisor_socket)
chmod=0700

[supervisord]
logfile=$WARREN_DATA_DIR/logs/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$WARREN_DATA_DIR/logs
nodaemon=true
identifier=warren

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$(supervisor_socket)

[eventlistener:warren-events]
command=$(supervisor_quote "$bin/python") $(supervisor_quote "$WARREN_ROOT/scripts/lib/supervision_events.py") $(supervisor_quote "$WARREN_DATA_DIR") $SUPERVISOR_CRASH_LOOP_EXITS $SUPERVISOR_CRASH_LOOP_SECONDS
events=PROCESS_STATE
priority=1
autorestart=true
stderr_logfile=$WARREN_DATA_DIR/logs/supervision-listener.log

[include]
files=$dir/conf.d/*.conf
CONF
  )
  touch "$WARREN_DATA_DIR/logs/supervision.log"
  log "starting the supervisor (supervisord; its programs' states: scripts/status)"
  "$bin/supervisord" -c "$conf" >>"$WARREN_DATA_DIR/logs/supervisord.log" 2>&1 &
  # shellcheck disable=SC2034 # scripts/up waits for it
  SUPERVISOR_PROCESS=$!
  wait_until 30 "the supervisor to answer" supervisor_answers ||
    die "supervisord did not start; see $WARREN_DATA_DIR/logs/supervisord.log"
  # shellcheck disable=SC2034 # read by infra.sh's supervised
  WARREN_SUPERVISED=1
}

# supervisor_add FILE: writes the sections on standard input to conf.d/FILE.conf and has the
# running supervisor take them in (stopped, until supervisor_start).
supervisor_add() {
  (umask 077 && cat >"$(supervisor_dir)/conf.d/$1.conf")
  supervisorctl_run update >>"$WARREN_DATA_DIR/logs/supervisord.log" 2>&1 ||
    die "supervisord did not take $1's programs; see $WARREN_DATA_DIR/logs/supervisord.log"
}

# supervisor_define FILE FUNCTION [ARG...]: FUNCTION's sections become conf.d/FILE.conf, which
# the running supervisor takes in.
supervisor_define() {
  local file=$1 sections
  shift
  sections=$("$@") || die "could not write the supervisor's programs for $file"
  supervisor_add "$file" <<<"$sections"
}

# The servers' programs, each defined by the *_start function of infra.sh that starts it.
supervisor_postgres_program() {
  local user=
  pg_server_command
  if is_root; then user=postgres; fi
  SUPERVISOR_ENV=()
  # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
  supervisor_program postgres 100 3 INT 60 "$WARREN_DATA_DIR/logs/postgres.log" "$user" -- "${PG_COMMAND[@]}"
}

supervisor_mongo_program() {
  mongo_command --auth
  SUPERVISOR_ENV=()
  supervisor_program mongo 110 3 TERM 30 "$WARREN_DATA_DIR/logs/mongo.log" "" -- "${MONGO_COMMAND[@]}"
}

supervisor_rabbit_programs() {
  local n
  SUPERVISOR_ENV=()
  # Stopped in the order 3, 2, 1 (the highest priority stops first).
  for n in 1 2 3; do
    rabbit_command "$n" rabbitmq-server
    supervisor_program "rabbit-$n" $((200 + n)) 5 TERM 90 \
      "$WARREN_DATA_DIR/rabbitmq/node-$n/log/stdout.log" "" -- "${RABBIT_COMMAND[@]}"
  done
}

# The services' programs: the binaries in BIN_DIR with the manifest's environment.
supervisor_service_programs() {
  local bin_dir=$1 name
  for name in "${WARREN_SERVICES[@]}"; do
    service_environment "$name" || die "scripts/lib/generated/manifest.sh has no environment for $name"
    service_port_environment "$name"
    SUPERVISOR_ENV=("${WARREN_SERVICE_ENVIRONMENT[@]}" "${WARREN_SERVICE_PORT_ENVIRONMENT[@]}")
    supervisor_program "$name" 300 3 TERM 30 "$WARREN_DATA_DIR/logs/$name.log" "" -- "$bin_dir/$name"
  done
}

# Stops every program (services first, then the broker nodes 3, 2, 1, then the databases) and
# supervisord itself; returns once it has exited.
supervisor_shutdown() {
  local pid
  pid=$(supervisor_pid) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  log "stopping every supervised program and the supervisor"
  supervisorctl_run shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  wait_until 300 "the supervisor to stop" process_gone "$pid" || {
    warn "supervisord (pid $pid) did not stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  }
}
