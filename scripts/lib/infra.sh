# shellcheck shell=bash
# Warren's local infrastructure: installing what is missing, then starting and stopping a
# three-node RabbitMQ cluster, a PostgreSQL server and the MongoDB-compatible server, all with
# their state under one data directory. Sourced by scripts/up, scripts/down and scripts/test.
#
# The caller sets WARREN_ROOT (the repository), WARREN_DATA_DIR (all state) and the port
# variables below (or takes these defaults), then calls infra_install and infra_start.
# WARREN_RABBIT_NETNS=1 runs each RabbitMQ node in a network namespace of its own, so that a
# test can partition the cluster for real (scripts/lib/netns.sh); without it, or where
# namespaces cannot be made, the nodes share the loopback interface.

WARREN_ROOT=${WARREN_ROOT:?WARREN_ROOT must be set}
WARREN_TOOLS_DIR=${WARREN_TOOLS_DIR:-$WARREN_ROOT/.warren/tools}
WARREN_POLL_INTERVAL=${WARREN_POLL_INTERVAL:-0.2}
SECANTUSDB_VERSION=${SECANTUSDB_VERSION:-0.7.0b3}

# Node names share a prefix so that a test cluster and a running system can live side by side.
WARREN_RABBIT_PREFIX=${WARREN_RABBIT_PREFIX:-warren}
WARREN_AMQP_BASE_PORT=${WARREN_AMQP_BASE_PORT:-5672}
WARREN_MGMT_BASE_PORT=${WARREN_MGMT_BASE_PORT:-15672}
WARREN_DIST_BASE_PORT=${WARREN_DIST_BASE_PORT:-25672}
WARREN_PROMETHEUS_BASE_PORT=${WARREN_PROMETHEUS_BASE_PORT:-15692}
WARREN_PG_PORT=${WARREN_PG_PORT:-5432}
WARREN_MONGO_PORT=${WARREN_MONGO_PORT:-27017}
WARREN_VHOST=${WARREN_VHOST:-warren}
# The address every server Warren starts listens on: AMQP, the management console and
# Prometheus endpoints, epmd and Erlang distribution, PostgreSQL and the MongoDB-compatible
# server. Loopback only by default; a multi-host cluster sets the host's own address (or 0.0.0.0)
# and puts a firewall and TLS in front.
WARREN_LISTEN_ADDRESS=${WARREN_LISTEN_ADDRESS:-127.0.0.1}

RABBIT_BIN=/usr/lib/rabbitmq/bin
# The services, broker users, databases and secrets, generated from warren-manifest
# (cargo xtask generate): WARREN_BROKER_USERS, WARREN_DATABASES, WARREN_SECRETS and the others.
# shellcheck source=generated/manifest.sh
. "$WARREN_ROOT/scripts/lib/generated/manifest.sh"

# Progress and errors go to the terminal's stderr as it was when this file was sourced (fd 9),
# so that they show even from inside a command whose own output is silenced.
exec 9>&2
log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&9; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&9; }
die() {
  printf '\033[1;31merror:\033[0m %s\n' "$*" >&9
  exit 1
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      warn "gave up after ${seconds}s waiting for $what"
      return 1
    fi
    sleep "$WARREN_POLL_INTERVAL"
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() {
  port_free "$1" || die "port $1 ($2) is already in use; stop what holds it, or set ${3} to another port"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------------------------
# Installing what is missing

apt_install() {
  is_root || die "missing system packages ($*); run as root or install them: apt-get install $*"
  if [ -z "${WARREN_APT_UPDATED:-}" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
    WARREN_APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
    die "apt-get install $* failed"
}

pg_bin_dir() {
  local ctl
  if ctl=$(command -v pg_ctl 2>/dev/null); then
    dirname "$(readlink -f "$ctl")"
    return 0
  fi
  # Debian keeps the server binaries off PATH; take the newest installed major version.
  local dir
  dir=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

infra_install() {
  local wanted=()
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || wanted+=(rabbitmq-server)
  [ -n "$(pg_bin_dir)" ] || wanted+=(postgresql)
  command -v psql >/dev/null || wanted+=(postgresql-client)
  command -v curl >/dev/null || wanted+=(curl)
  # The browser tests drive Debian's Chromium through its WebDriver.
  if [ -n "${WARREN_WITH_BROWSER:-}" ]; then
    command -v chromium >/dev/null || wanted+=(chromium)
    command -v chromedriver >/dev/null || wanted+=(chromium-driver)
  fi
  if ((${#wanted[@]})); then
    apt_install "${wanted[@]}"
    # Debian starts its own RabbitMQ and PostgreSQL services where systemd runs; Warren runs
    # its own servers on its own ports and data directory, so the packaged ones are stopped.
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl disable --now rabbitmq-server postgresql >/dev/null 2>&1 || true
    fi
  fi
  infra_install_secantusdb
  infra_install_supervisor
}

# The checkers scripts/test runs: shellcheck from Debian over the scripts, and over
# docker-compose.yml the Compose Specification's schema and check.py, in a virtualenv of their own
# (jsonschema, which check-jsonschema uses too, for check_dashboard.py).
CHECKERS_REQUIREMENTS=("check-jsonschema==0.39.0" "PyYAML==6.0.3" "jsonschema==4.26.0")

infra_install_checkers() {
  command -v shellcheck >/dev/null || apt_install shellcheck
  # promtool (Debian's prometheus package) checks the alert rules and runs their unit tests.
  command -v promtool >/dev/null || apt_install prometheus
  venv_install "$WARREN_TOOLS_DIR/checkers" "${CHECKERS_REQUIREMENTS[@]}"
}

infra_install_secantusdb() {
  venv_install "$WARREN_TOOLS_DIR/venv" "SecantusDB==$SECANTUSDB_VERSION"
}

# supervisord keeps what scripts/up started running (scripts/lib/supervise.sh), in a virtualenv
# of its own.
SUPERVISOR_REQUIREMENTS=("supervisor==4.3.0")

infra_install_supervisor() {
  venv_install "$WARREN_TOOLS_DIR/supervisor" "${SUPERVISOR_REQUIREMENTS[@]}"
}

# venv_install DIR REQUIREMENT...: a Python virtualenv at DIR with these pinned packages,
# installed again when the list changes (DIR/.installed holds the list it was made with).
venv_install() {
  local venv=$1
  shift
  if [ -x "$venv/bin/python" ] && [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$*" ]; then
    return 0
  fi
  log "installing $* into $venv"
  mkdir -p "$WARREN_TOOLS_DIR"
  if ! python3 -m venv "$venv" >&2; then
    apt_install python3-venv
    python3 -m venv "$venv" >&2 || die "cannot create a Python virtualenv at $venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2 || die "pip install $* failed"
  echo "$*" >"$venv/.installed"
}

# ---------------------------------------------------------------------------------------------
# Secrets: .env (if present) and the environment win; anything unset is generated once and kept
# in the data directory, so that a second run uses the passwords of the first.

random_secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

infra_load_secrets() {
  local generated=$WARREN_DATA_DIR/secrets.env
  if [ -f "$WARREN_ROOT/.env" ] && [ -z "${WARREN_IGNORE_DOTENV:-}" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$WARREN_ROOT/.env"
    set +a
  fi
  [ -f "$generated" ] && {
    set -a
    # shellcheck disable=SC1090
    . "$generated"
    set +a
  }
  # The file is created, and appended to, under umask 077: never readable by others, not even
  # between its creation and a chmod.
  local var mask
  mask=$(umask)
  umask 077
  for var in "${WARREN_SECRETS[@]}"; do
    if [ -z "${!var:-}" ]; then
      printf -v "$var" '%s' "$(random_secret)"
      export "${var?}"
      printf '%s=%s\n' "$var" "${!var}" >>"$generated"
    fi
  done
  umask "$mask"
  # A file an earlier version left readable to others is closed now.
  if [ -f "$generated" ]; then chmod 600 "$generated"; fi
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ: three nodes on this machine, each with its own name, ports and data directory.

# In namespaces a node is a long name with its own address as host part, which needs no
# resolving; on loopback all three are @localhost.
rabbit_node() {
  if netns_on; then
    echo "${WARREN_RABBIT_PREFIX}-$1@$(netns_addr "$1")"
  else
    echo "${WARREN_RABBIT_PREFIX}-$1@localhost"
  fi
}
# The address clients use for node N.
rabbit_host() { if netns_on; then netns_addr "$1"; else echo 127.0.0.1; fi; }
# The address node N listens on: its own in a namespace, else WARREN_LISTEN_ADDRESS.
rabbit_bind() { if netns_on; then netns_addr "$1"; else echo "$WARREN_LISTEN_ADDRESS"; fi; }
# An IPv4 address as an Erlang tuple: 127.0.0.1 -> {127,0,0,1}.
erl_ip() { echo "{${1//./,}}"; }
amqp_port() { echo $((WARREN_AMQP_BASE_PORT + $1 - 1)); }
mgmt_port() { echo $((WARREN_MGMT_BASE_PORT + $1 - 1)); }

# Three nodes share this machine's cores with the services and databases: an idle scheduler
# spinning for work (the BEAM's default busy wait) would take CPU the others need.
WARREN_RABBIT_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"

# Runs a RabbitMQ script for node N with that node's environment (in its namespace, if any:
# a CLI there reaches its node whatever partition the others are in).
rabbit_run() {
  local n=$1 script=$2
  shift 2
  rabbit_command "$n" "$script"
  "${RABBIT_COMMAND[@]}" "$@"
}

# rabbit_command N SCRIPT: sets RABBIT_COMMAND to the command line that runs SCRIPT for node N
# (rabbit_run runs it; the supervisor's configuration names it for rabbitmq-server).
rabbit_command() {
  local n=$1 script=$2
  local base=$WARREN_DATA_DIR/rabbitmq node_dir=$WARREN_DATA_DIR/rabbitmq/node-$n inside=()
  local bind
  bind=$(rabbit_bind "$n")
  if netns_on; then
    inside=(ip netns exec "$(netns_name "$n")" env RABBITMQ_USE_LONGNAME=true)
  fi
  # epmd (started by the first Erlang VM that needs it) and every VM's distribution listener,
  # the CLI tools' included, bind the node's address only (epmd adds loopback by itself).
  local dist=()
  if [ "$bind" != 0.0.0.0 ]; then
    dist=(ERL_EPMD_ADDRESS="$bind"
      RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface $(erl_ip "$bind")")
  fi
  RABBIT_COMMAND=("${inside[@]}" env HOME="$base" "${dist[@]}"
    RABBITMQ_CONF_ENV_FILE="$base/no-env-file"
    RABBITMQ_NODENAME="$(rabbit_node "$n")"
    RABBITMQ_NODE_PORT="$(amqp_port "$n")"
    RABBITMQ_DIST_PORT=$((WARREN_DIST_BASE_PORT + n - 1))
    RABBITMQ_CONFIG_FILE="$node_dir/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$node_dir/advanced.config"
    RABBITMQ_MNESIA_BASE="$node_dir/mnesia"
    RABBITMQ_LOG_BASE="$node_dir/log"
    RABBITMQ_PID_FILE="$node_dir/rabbitmq.pid"
    RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$WARREN_RABBIT_ERL_ARGS"
    "$RABBIT_BIN/$script")
}

rabbitmqctl_on() {
  local n=$1
  shift
  rabbit_run "$n" rabbitmqctl -n "$(rabbit_node "$n")" "$@"
}

rabbit_prepare() {
  local base=$WARREN_DATA_DIR/rabbitmq n node_dir
  mkdir -p "$base"
  if [ ! -s "$base/.erlang.cookie" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(20).upper(), end="")' >"$base/.erlang.cookie")
  fi
  chmod 400 "$base/.erlang.cookie"
  cp "$WARREN_ROOT/rabbitmq/enabled_plugins" "$base/enabled_plugins"
  for n in 1 2 3; do
    node_dir=$base/node-$n
    mkdir -p "$node_dir/log" "$node_dir/mnesia"
    {
      cat "$WARREN_ROOT/rabbitmq/rabbitmq.conf"
      printf '\n# This node, listening on %s only\n' "$(rabbit_bind "$n")"
      printf 'listeners.tcp.default = %s:%s\n' "$(rabbit_bind "$n")" "$(amqp_port "$n")"
      printf 'distribution.listener.interface = %s\n' "$(rabbit_bind "$n")"
      printf 'management.tcp.port = %s\nmanagement.tcp.ip = %s\n' "$(mgmt_port "$n")" "$(rabbit_bind "$n")"
      printf 'prometheus.tcp.port = %s\nprometheus.tcp.ip = %s\n' \
        $((WARREN_PROMETHEUS_BASE_PORT + n - 1)) "$(rabbit_bind "$n")"
      rabbit_tls_conf "$n"
    } >"$node_dir/rabbitmq.conf"
    # queue_leader_locator = balanced falls back to a random node once the cluster holds 1000
    # queues. Warren declares a dozen, but the test cluster keeps one vhost of them per test:
    # balanced placement stays exact at any count.
    echo '[{rabbit, [{queue_count_start_random_selection, 1000000}]}].' >"$node_dir/advanced.config"
  done
}

# The node's own operating-system process (the BEAM), for stopping it and for fault injection.
rabbit_record_pid() {
  local pid
  pid=$(rabbitmqctl_on "$1" -q eval 'os:getpid().' | tr -dc '0-9')
  [ -n "$pid" ] || die "cannot read the process id of RabbitMQ node $1"
  echo "$pid" >"$WARREN_DATA_DIR/rabbitmq/node-$1/rabbitmq.pid"
}

rabbit_running() { rabbit_run "$1" rabbitmq-diagnostics -q -n "$(rabbit_node "$1")" check_running; }

# Succeeds once node N runs; exits the script at once if its process has died (under the
# supervisor: once the supervisor gave up on it).
rabbit_started() {
  if supervised; then
    supervisor_gave_up "rabbit-$1" && die "RabbitMQ node $1 did not start; see $WARREN_DATA_DIR/rabbitmq/node-$1/log"
  else
    local launcher
    launcher=$(cat "$WARREN_DATA_DIR/rabbitmq/node-$1/launcher.pid")
    if process_gone "$launcher"; then
      die "RabbitMQ node $1 exited during start; see $WARREN_DATA_DIR/rabbitmq/node-$1/log"
    fi
  fi
  rabbit_running "$1"
}

rabbit_start() {
  local n
  rabbit_netns_prepare
  rabbit_prepare
  # In namespaces every node has its ports to itself.
  netns_on || for n in 1 2 3; do
    require_free_port "$(amqp_port "$n")" "AMQP of node $n" WARREN_AMQP_BASE_PORT
    require_free_port "$(mgmt_port "$n")" "management of node $n" WARREN_MGMT_BASE_PORT
    require_free_port $((WARREN_PROMETHEUS_BASE_PORT + n - 1)) "Prometheus metrics of node $n" WARREN_PROMETHEUS_BASE_PORT
  done
  # A cluster that ran before must have its nodes start together: each waits for its peers.
  for n in 1 2 3; do
    log "starting RabbitMQ node $(rabbit_node "$n") (AMQP $(rabbit_host "$n"):$(amqp_port "$n"), console $(mgmt_port "$n"))"
    supervised && continue
    rabbit_run "$n" rabbitmq-server >>"$WARREN_DATA_DIR/rabbitmq/node-$n/log/stdout.log" 2>&1 &
    echo $! >"$WARREN_DATA_DIR/rabbitmq/node-$n/launcher.pid"
  done
  # The supervisor names the node's process itself (scripts/node finds it there).
  if supervised; then
    supervisor_define rabbitmq supervisor_rabbit_programs
    supervisor_start rabbit-1 rabbit-2 rabbit-3
  fi
  for n in 1 2 3; do
    wait_until 180 "RabbitMQ node $n to start" rabbit_started "$n" ||
      die "RabbitMQ node $n did not start; see $WARREN_DATA_DIR/rabbitmq/node-$n/log"
    supervised || rabbit_record_pid "$n"
  done
  if [ ! -f "$WARREN_DATA_DIR/rabbitmq/clustered" ]; then
    for n in 2 3; do
      log "joining $(rabbit_node "$n") to $(rabbit_node 1)"
      local cli_log=$WARREN_DATA_DIR/rabbitmq/node-$n/log/cli.log
      {
        rabbitmqctl_on "$n" -q stop_app &&
          rabbitmqctl_on "$n" -q reset &&
          rabbitmqctl_on "$n" -q join_cluster "$(rabbit_node 1)" &&
          rabbitmqctl_on "$n" -q start_app
      } >>"$cli_log" 2>&1 || die "node $n could not join the cluster; see $cli_log"
    done
    touch "$WARREN_DATA_DIR/rabbitmq/clustered"
  fi
  wait_until 60 "three running nodes in the cluster" rabbit_cluster_complete ||
    die "the RabbitMQ cluster did not reach three running nodes"
  rabbit_apply_definitions
}

# Whether node $1 has a distribution connection to node $2 (the chaos scenarios check a cut).
rabbit_connected() {
  rabbit_run "$1" rabbitmqctl -q -n "$(rabbit_node "$1")" eval "lists:member('$(rabbit_node "$2")', nodes())." |
    grep -q true
}
rabbit_cut_off() { ! rabbit_connected "$1" "$2"; }
# Whether node N's Erlang VM answers but RabbitMQ has stopped on it: pause_minority's pause
# (a killed node is not paused).
rabbit_paused() { [ "$(rabbitmqctl_on "$1" -q eval 'rabbit:is_running().' 2>/dev/null)" = false ]; }

# Starts one node of an existing cluster again (after a crash or kill) and waits for it.
rabbit_restart_node() {
  local n=$1
  log "restarting RabbitMQ node $(rabbit_node "$n")"
  rabbit_run "$n" rabbitmq-server >>"$WARREN_DATA_DIR/rabbitmq/node-$n/log/stdout.log" 2>&1 &
  echo $! >"$WARREN_DATA_DIR/rabbitmq/node-$n/launcher.pid"
  wait_until 180 "RabbitMQ node $n to start" rabbit_started "$n" || die "node $n did not restart"
  rabbit_record_pid "$n"
  wait_until 60 "three running nodes in the cluster" rabbit_cluster_complete ||
    die "the cluster did not reach three running nodes"
}

# Every node runs RabbitMQ and counts all three as running, asked of each node through node 1
# (one CLI call). Node 1's own count is not enough: for a few seconds after pause_minority
# paused the other two, and once as a partition healed, it counted three running nodes while
# another node refused cluster_status because RabbitMQ was not running on it.
rabbit_cluster_complete() {
  local nodes
  nodes="'$(rabbit_node 1)', '$(rabbit_node 2)', '$(rabbit_node 3)'"
  [ "$(rabbitmqctl_on 1 -q eval "
    Nodes = lists:sort([$nodes]),
    lists:all(fun(N) ->
      case rpc:call(N, rabbit_nodes, all_running, [], 10000) of
        Running when is_list(Running) ->
          lists:sort(Running) =:= Nodes andalso rpc:call(N, rabbit, is_running, [], 10000) =:= true;
        _ -> false
      end
    end, Nodes).")" = true ]
}

# rabbit_sees_running N COUNT: node N runs and counts COUNT running nodes in its cluster.
rabbit_sees_running() {
  local running
  running=$(rabbitmqctl_on "$1" -q cluster_status --formatter json |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')
  [ "$running" = "$2" ]
}

# Imports rabbitmq/definitions.json with password hashes for this run's passwords, after the
# cluster has formed so that every quorum queue gets a member on each of the three nodes.
rabbit_apply_definitions() {
  local rendered=$WARREN_DATA_DIR/rabbitmq/definitions.rendered.json
  (umask 077 && python3 "$WARREN_ROOT/scripts/lib/render_definitions.py" \
    "$WARREN_ROOT/rabbitmq/definitions.json" "${WARREN_BROKER_USERS[@]}" >"$rendered") ||
    die "could not render rabbitmq/definitions.json"
  log "importing broker definitions (vhost, users, permissions, exchanges, quorum queues)"
  rabbitmqctl_on 1 -q import_definitions "$rendered" >&2 || die "importing definitions failed"
  rm -f "$rendered"
  # Read the whole list before matching: `grep -q` closing the pipe early would fail it.
  local users
  users=$(rabbitmqctl_on 1 -q list_users --formatter json) || die "cannot list broker users"
  if [[ $users == *'"guest"'* ]]; then
    rabbitmqctl_on 1 -q delete_user guest >&2 || die "cannot delete the guest user"
  fi
}

rabbit_stop() {
  local n pid
  for n in 3 2 1; do
    [ -d "$WARREN_DATA_DIR/rabbitmq/node-$n" ] || continue
    if rabbit_running "$n" >/dev/null 2>&1; then
      log "stopping RabbitMQ node $(rabbit_node "$n")"
      rabbitmqctl_on "$n" -q stop >/dev/null 2>&1 || true
    fi
    pid=$(cat "$WARREN_DATA_DIR/rabbitmq/node-$n/rabbitmq.pid" 2>/dev/null) || true
    if [ -n "$pid" ]; then
      kill_and_wait "$pid" 30
      rm -f "$WARREN_DATA_DIR/rabbitmq/node-$n/rabbitmq.pid"
    fi
  done
  # Whatever is left of this cluster's Erlang VMs (found by their home, our data directory).
  if ! wait_until 30 "the RabbitMQ nodes to exit" rabbit_all_gone; then
    pkill -KILL -f "beam.smp.* -home $WARREN_DATA_DIR/rabbitmq " 2>/dev/null || true
  fi
  netns_destroy
}

# Decides, before the nodes first start, whether they run in namespaces, and makes them. A data
# directory keeps the choice it was clustered with (its node names carry it): namespaces again,
# on the same subnet, if it was clustered in them; loopback if it was clustered there.
rabbit_netns_prepare() {
  local base=$WARREN_DATA_DIR/rabbitmq
  netns_on && return 0
  if [ -f "$base/netns.net" ]; then
    netns_available || die "this data directory's cluster was made in network namespaces, which cannot be made here"
    netns_create
  elif [ -n "${WARREN_RABBIT_NETNS:-}" ] && [ "$WARREN_RABBIT_NETNS" != 0 ]; then
    if [ -f "$base/clustered" ]; then
      warn "WARREN_RABBIT_NETNS ignored: this data directory's cluster was made on loopback"
    elif netns_available; then
      netns_create
    else
      warn "falling back to RabbitMQ nodes on loopback: partitions can only be made by changing a node's Erlang cookie"
    fi
  fi
}

rabbit_all_gone() { ! pgrep -f "beam.smp.* -home $WARREN_DATA_DIR/rabbitmq " >/dev/null; }

# ---------------------------------------------------------------------------------------------
# PostgreSQL. It refuses to run as root, so as root it runs as the system user "postgres".

as_pg() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# As root the server runs as the postgres user, which must reach its data directory. Warren
# changes no folder of the user's for that: its cluster lives in WARREN_DATA_DIR/postgres when
# the postgres user can reach WARREN_DATA_DIR's parent, else under /var/lib/warren (where
# Debian's own clusters live, /var/lib/postgresql), linked from WARREN_DATA_DIR/postgres.
pg_place_data_dir() {
  local link=$WARREN_DATA_DIR/postgres
  is_root || return 0
  [ -L "$link" ] && return 0
  if runuser -u postgres -- test -x "$(dirname "$WARREN_DATA_DIR")"; then
    # WARREN_DATA_DIR is Warren's own (a throwaway one is made private by mktemp).
    runuser -u postgres -- test -x "$WARREN_DATA_DIR" || chmod o+x "$WARREN_DATA_DIR"
    return 0
  fi
  [ -e "$link" ] && die "$link is not reachable by the postgres user; move WARREN_DATA_DIR to a place it can reach, or set WARREN_POSTGRES_URL_BASE"
  local key elsewhere
  key=$(printf '%s' "$WARREN_DATA_DIR" | sha256sum | cut -c1-16)
  elsewhere=/var/lib/warren/$key/postgres
  log "the postgres user cannot reach $WARREN_DATA_DIR: its cluster lives in $elsewhere"
  mkdir -p "$elsewhere"
  chmod 755 /var/lib/warren
  ln -s "$elsewhere" "$link"
}

# Removes a cluster that pg_place_data_dir put outside WARREN_DATA_DIR (a throwaway's).
pg_forget_data_dir() {
  local link=$WARREN_DATA_DIR/postgres target
  [ -L "$link" ] || return 0
  target=$(readlink -f "$link")
  case $target in /var/lib/warren/*/postgres) rm -rf "$(dirname "$target")" ;; esac
}

# pg_admin_psql ARGS...: psql as the administrator on the local server. The password goes
# through the environment (PGPASSWORD), never a process argument; so do the roles' passwords
# that scripts/lib/generated/postgres.sql reads with \getenv.
pg_admin_psql() {
  PGPASSWORD=$POSTGRES_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$WARREN_PG_PORT" \
    -U "$WARREN_POSTGRES_USER" -d postgres "$@"
}

# The cluster's directory, through the link pg_place_data_dir may have made (the server must be
# given a path the postgres user can walk).
pg_data_dir() { readlink -f "$WARREN_DATA_DIR/postgres"; }

pg_start() {
  local bin dir
  bin=$(pg_bin_dir) || die "PostgreSQL's server binaries are not installed"
  require_free_port "$WARREN_PG_PORT" PostgreSQL WARREN_PG_PORT
  if is_root; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
    pg_place_data_dir
  fi
  dir=$(pg_data_dir)
  mkdir -p "$dir"
  if is_root; then
    chown postgres: "$dir"
    chmod 700 "$dir"
  fi
  if [ ! -s "$dir/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir"
    local pwfile initialised=0
    # Beside the cluster's directory: reachable by the postgres user, unlike TMPDIR may be.
    pwfile=$(umask 077 && mktemp -p "$(dirname "$dir")")
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    is_root && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$dir" -U "$WARREN_POSTGRES_USER" --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$WARREN_DATA_DIR/logs/postgres-init.log" 2>&1 || initialised=$?
    rm -f "$pwfile"
    [ "$initialised" = 0 ] || die "initdb failed; see $WARREN_DATA_DIR/logs/postgres-init.log"
  fi
  pg_tls_prepare "$dir"
  log "starting PostgreSQL on 127.0.0.1:$WARREN_PG_PORT"
  if supervised; then
    # The supervisor runs the server itself (pg_server_command), as the postgres user as root.
    supervisor_define postgres supervisor_postgres_program
    supervisor_start postgres
    wait_until 60 "PostgreSQL to accept connections" pg_started ||
      die "PostgreSQL did not start; see $WARREN_DATA_DIR/logs/postgres.log"
  else
    # The log is opened here (not by the server, which may not reach the logs folder as
    # postgres): without -l the server writes to pg_ctl's output.
    as_pg "$bin/pg_ctl" -D "$dir" -w -t 60 -o "$(pg_server_options "$dir")" start \
      >>"$WARREN_DATA_DIR/logs/postgres.log" 2>&1 ||
      die "PostgreSQL did not start; see $WARREN_DATA_DIR/logs/postgres.log"
  fi
  # Every service's role and every database, as warren-manifest states them (also run on a data
  # directory an earlier Warren made: its databases and tables pass to their owners' roles).
  log "creating PostgreSQL's roles and databases (scripts/lib/generated/postgres.sql)"
  pg_admin_psql -f "$WARREN_ROOT/scripts/lib/generated/postgres.sql" \
    >>"$WARREN_DATA_DIR/logs/postgres-setup.log" 2>&1 ||
    die "could not create PostgreSQL's roles and databases; see $WARREN_DATA_DIR/logs/postgres-setup.log"
}

# The server's options for the cluster in DIR, as one string of words (pg_ctl's -o).
pg_server_options() {
  printf '%s' "-p $WARREN_PG_PORT -k $1 -c listen_addresses=$WARREN_LISTEN_ADDRESS -c max_connections=300$(pg_tls_options)"
}

# PG_COMMAND: the server in the foreground, for the supervisor (which runs it as the postgres
# user as root: PostgreSQL refuses to run as root).
pg_server_command() {
  local bin dir options
  bin=$(pg_bin_dir) || die "PostgreSQL's server binaries are not installed"
  dir=$(pg_data_dir)
  read -r -a options <<<"$(pg_server_options "$dir")"
  # shellcheck disable=SC2034 # read by supervise.sh
  PG_COMMAND=("$bin/postgres" -D "$dir" "${options[@]}")
}

pg_ready() {
  local bin
  bin=$(pg_bin_dir) || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$WARREN_PG_PORT" -t 3
}

# Succeeds once the supervised server accepts connections; exits the script once the supervisor
# gave up on it.
pg_started() {
  supervisor_gave_up postgres && die "PostgreSQL did not start; see $WARREN_DATA_DIR/logs/postgres.log"
  pg_ready
}

pg_stop() {
  local bin dir
  dir=$(pg_data_dir)
  [ -s "$dir/postmaster.pid" ] || return 0
  bin=$(pg_bin_dir) || return 0
  log "stopping PostgreSQL"
  as_pg "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------------------------
# The MongoDB-compatible server (SecantusDB).

mongo_uri() { echo "mongodb://127.0.0.1:${WARREN_MONGO_PORT}/?directConnection=true"; }

# The server requires authentication (SCRAM-SHA-256). Its users are mongo/users.json (generated
# from warren-manifest, as docker-compose's replica set gets them): the administrator, which
# only the infrastructure and the tests' scaffolding log in as, and each service's own user.
MONGO_USERS_DEFINITION=$WARREN_ROOT/mongo/users.json

# mongo_users [FLAG]: scripts/lib/mongo_users.py on this server; passwords go through the
# environment, never the command line.
mongo_users() {
  "$WARREN_TOOLS_DIR/venv/bin/python" "$WARREN_ROOT/scripts/lib/mongo_users.py" \
    "$(mongo_uri)" "$MONGO_USERS_DEFINITION" "$@"
}

# Succeeds once the administrator can log in.
mongo_ping() { mongo_users --ping; }

# Succeeds once the server answers, logged in or not.
mongo_answers() {
  "$WARREN_TOOLS_DIR/venv/bin/python" - "$(mongo_uri)" <<'EOF'
import sys
from pymongo import MongoClient
MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command("ping")
EOF
}

# mongo_command [FLAG...]: sets MONGO_COMMAND to SecantusDB's command line; a later --host wins.
mongo_command() {
  MONGO_COMMAND=("$WARREN_TOOLS_DIR/venv/bin/secantusd-py" --host "$WARREN_LISTEN_ADDRESS"
    --port "$WARREN_MONGO_PORT" --storage-path "$WARREN_DATA_DIR/mongo" --log-level WARNING
    --sync-on-commit "$@")
}

# mongo_launch [FLAG...]: starts SecantusDB in the background.
mongo_launch() {
  mongo_command "$@"
  "${MONGO_COMMAND[@]}" >>"$WARREN_DATA_DIR/logs/mongo.log" 2>&1 &
  echo $! >"$WARREN_DATA_DIR/mongo.pid"
}

# Succeeds once the server answers; under the supervisor, exits the script once it gave up on it.
mongo_started() {
  if supervised && supervisor_gave_up mongo; then
    die "the MongoDB-compatible server did not start; see $WARREN_DATA_DIR/logs/mongo.log"
  fi
  mongo_answers
}

mongo_start() {
  local dir=$WARREN_DATA_DIR/mongo
  require_free_port "$WARREN_MONGO_PORT" "the MongoDB-compatible server" WARREN_MONGO_PORT
  mkdir -p "$dir"
  # SecantusDB has no localhost exception: the first users are made with authentication off,
  # once, on loopback, before anything else can have started.
  if [ ! -f "$dir/warren-users-created" ]; then
    log "creating MongoDB's users (authentication off, on 127.0.0.1, this once)"
    mongo_launch --host 127.0.0.1
    wait_until 60 "the MongoDB-compatible server" mongo_answers ||
      die "the MongoDB-compatible server did not start; see $WARREN_DATA_DIR/logs/mongo.log"
    mongo_users --first-start || die "could not create MongoDB's users"
    mongo_stop
    touch "$dir/warren-users-created"
  fi
  log "starting SecantusDB (MongoDB wire protocol, authentication on) on $WARREN_LISTEN_ADDRESS:$WARREN_MONGO_PORT"
  if supervised; then
    supervisor_define mongo supervisor_mongo_program
    supervisor_start mongo
  else
    mongo_launch --auth
  fi
  wait_until 60 "the MongoDB-compatible server" mongo_started ||
    die "the MongoDB-compatible server did not start; see $WARREN_DATA_DIR/logs/mongo.log"
  wait_until 10 "MongoDB's administrator to log in" mongo_ping ||
    die "MongoDB's administrator cannot log in: was MONGO_ADMIN_PASSWORD changed? (to make the users again, stop Warren and delete $dir/warren-users-created)"
  # Users added to the manifest since, and passwords changed in .env, take effect now.
  mongo_users || die "could not update MongoDB's users"
}

mongo_stop() {
  local pid
  pid=$(cat "$WARREN_DATA_DIR/mongo.pid" 2>/dev/null) || return 0
  log "stopping the MongoDB-compatible server"
  kill_and_wait "$pid" 30
  rm -f "$WARREN_DATA_DIR/mongo.pid"
}

# ---------------------------------------------------------------------------------------------
# TLS (WARREN_TLS=1; the throwaway infrastructure turns it on): a private CA in the data
# directory signs a certificate for each server. RabbitMQ node 1 adds a TLS listener
# (WARREN_AMQPS_PORT), PostgreSQL turns ssl on (same port: clients choose with sslmode), and a
# second MongoDB-compatible server speaks only TLS (WARREN_MONGO_TLS_PORT; SecantusDB's TLS is
# all or nothing on a port). The plain listeners stay as they are.

WARREN_TLS=${WARREN_TLS:-0}
WARREN_AMQPS_PORT=${WARREN_AMQPS_PORT:-$((WARREN_AMQP_BASE_PORT + 10))}
WARREN_MONGO_TLS_PORT=${WARREN_MONGO_TLS_PORT:-$((WARREN_MONGO_PORT + 1))}

tls_on() { [ "$WARREN_TLS" = 1 ]; }
tls_dir() { echo "$WARREN_DATA_DIR/tls"; }

# tls_issue NAME SAN...: NAME.pem and NAME.key in tls_dir, a server certificate signed by the
# CA (made first if missing) for the subject alternative names given (IP:… or DNS:…).
tls_issue() {
  local name=$1 dir sans
  shift
  dir=$(tls_dir)
  sans=$(
    IFS=,
    echo "$*"
  )
  mkdir -p "$dir"
  {
    if [ ! -s "$dir/ca.pem" ]; then
      (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Warren test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem") && chmod 644 "$dir/ca.pem"
    fi &&
      (umask 077 && openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr") &&
      printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        "$sans" >"$dir/$name.ext" &&
      openssl x509 -req -days 30 -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$dir/$name.ext" -out "$dir/$name.pem"
  } >>"$WARREN_DATA_DIR/logs/tls.log" 2>&1 || die "could not issue the $name certificate; see $WARREN_DATA_DIR/logs/tls.log"
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# Node N's TLS lines for its rabbitmq.conf (node 1 only): a listener on its own address, and
# the CA that a client certificate, if one is offered, must chain to.
rabbit_tls_conf() {
  local n=$1 dir
  tls_on && [ "$n" = 1 ] || return 0
  dir=$(tls_dir)
  netns_on || require_free_port "$WARREN_AMQPS_PORT" "AMQP over TLS of node 1" WARREN_AMQPS_PORT
  tls_issue rabbit-1 "IP:$(rabbit_host 1)" DNS:localhost
  printf '\n# TLS (WARREN_TLS=1)\nlisteners.ssl.default = %s:%s\n' "$(rabbit_bind 1)" "$WARREN_AMQPS_PORT"
  printf 'ssl_options.cacertfile = %s\nssl_options.certfile = %s\nssl_options.keyfile = %s\n' \
    "$dir/ca.pem" "$dir/rabbit-1.pem" "$dir/rabbit-1.key"
  printf 'ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = false\n'
}

# PostgreSQL's certificate and key, in its cluster's directory DIR (which the postgres user
# surely reaches), named as pg_tls_options names them.
pg_tls_prepare() {
  local dir=$1
  tls_on || return 0
  tls_issue postgres IP:127.0.0.1 DNS:localhost
  install -m 600 "$(tls_dir)/postgres.pem" "$dir/server.crt"
  install -m 600 "$(tls_dir)/postgres.key" "$dir/server.key"
  if is_root; then chown postgres "$dir/server.crt" "$dir/server.key"; fi
}
pg_tls_options() { if tls_on; then printf ' -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key'; fi; }

mongo_tls_uri() { echo "mongodb://127.0.0.1:${WARREN_MONGO_TLS_PORT}/?directConnection=true&tls=true"; }

mongo_tls_ping() {
  "$WARREN_TOOLS_DIR/venv/bin/python" - "$(mongo_tls_uri)" "$(tls_dir)/ca.pem" <<'EOF'
import sys
from pymongo import MongoClient
MongoClient(sys.argv[1], tlsCAFile=sys.argv[2], serverSelectionTimeoutMS=1000).admin.command("ping")
EOF
}

tls_mongo_start() {
  local dir=$WARREN_DATA_DIR/mongo-tls
  tls_on || return 0
  require_free_port "$WARREN_MONGO_TLS_PORT" "the MongoDB-compatible server over TLS" WARREN_MONGO_TLS_PORT
  tls_issue mongo IP:127.0.0.1 DNS:localhost
  mkdir -p "$dir"
  log "starting SecantusDB over TLS only on 127.0.0.1:$WARREN_MONGO_TLS_PORT"
  "$WARREN_TOOLS_DIR/venv/bin/secantusd-py" --host "$WARREN_LISTEN_ADDRESS" --port "$WARREN_MONGO_TLS_PORT" \
    --storage-path "$dir" --log-level WARNING \
    --tls-cert-file "$(tls_dir)/mongo.pem" --tls-key-file "$(tls_dir)/mongo.key" \
    >>"$WARREN_DATA_DIR/logs/mongo-tls.log" 2>&1 &
  echo $! >"$WARREN_DATA_DIR/mongo-tls.pid"
  wait_until 60 "the MongoDB-compatible server over TLS" mongo_tls_ping ||
    die "the MongoDB-compatible server over TLS did not start; see $WARREN_DATA_DIR/logs/mongo-tls.log"
}

tls_mongo_stop() {
  local pid
  pid=$(cat "$WARREN_DATA_DIR/mongo-tls.pid" 2>/dev/null) || return 0
  log "stopping the MongoDB-compatible server over TLS"
  kill_and_wait "$pid" 30
  rm -f "$WARREN_DATA_DIR/mongo-tls.pid"
}

# The TLS endpoints for the tests: the CA, node 1's TLS listener, the TLS-only MongoDB server.
tls_export_endpoints() {
  tls_on || return 0
  export WARREN_TLS_CA_FILE WARREN_AMQPS_NODE WARREN_MONGO_TLS_URI
  WARREN_TLS_CA_FILE=$(tls_dir)/ca.pem
  WARREN_AMQPS_NODE="amqps://$(rabbit_host 1):$WARREN_AMQPS_PORT"
  WARREN_MONGO_TLS_URI=$(mongo_tls_uri)
}

# ---------------------------------------------------------------------------------------------

# kill_and_wait PID SECONDS: SIGTERM, wait for the process to exit, SIGKILL past the deadline.
kill_and_wait() {
  local pid=$1 seconds=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_until "$seconds" "process $pid to exit" process_gone "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

process_gone() { ! kill -0 "$1" 2>/dev/null; }

# Whether scripts/up's supervisor runs the servers (scripts/lib/supervise.sh sets
# WARREN_SUPERVISED once supervisord answers); the throwaway infrastructure runs them itself.
supervised() { [ -n "${WARREN_SUPERVISED:-}" ]; }

infra_start() {
  mkdir -p "$WARREN_DATA_DIR/logs"
  infra_load_secrets
  pg_start
  mongo_start
  tls_mongo_start
  rabbit_start
}

infra_stop() {
  rabbit_stop
  mongo_stop
  tls_mongo_stop
  pg_stop
}

# The environment every Warren binary and test reads to find the infrastructure.
infra_export_endpoints() {
  local n uris=()
  for n in 1 2 3; do uris+=("amqp://$(rabbit_host "$n"):$(amqp_port "$n")"); done
  export WARREN_AMQP_NODES
  WARREN_AMQP_NODES=$(
    IFS=,
    echo "${uris[*]}"
  )
  export WARREN_AMQP_VHOST=$WARREN_VHOST
  export WARREN_MANAGEMENT_URL WARREN_MANAGEMENT_URLS
  WARREN_MANAGEMENT_URL="http://$(rabbit_host 1):$(mgmt_port 1)"
  WARREN_MANAGEMENT_URLS="$WARREN_MANAGEMENT_URL,http://$(rabbit_host 2):$(mgmt_port 2),http://$(rabbit_host 3):$(mgmt_port 3)"
  # Whether the nodes really run in namespaces (1), so that netns_isolate and the others work.
  export WARREN_RABBIT_NETNS_ACTIVE=0
  if netns_on; then WARREN_RABBIT_NETNS_ACTIVE=1; fi
  # The server's address (each service's URL names its own role), and the administrator's URL
  # for the tests' scaffolding.
  export WARREN_POSTGRES_ADDRESS="127.0.0.1:${WARREN_PG_PORT}"
  export WARREN_POSTGRES_URL_BASE="postgres://$WARREN_POSTGRES_USER@$WARREN_POSTGRES_ADDRESS"
  export WARREN_MONGO_URI
  WARREN_MONGO_URI=$(mongo_uri)
  tls_export_endpoints
}

# shellcheck source=netns.sh
. "$WARREN_ROOT/scripts/lib/netns.sh"
