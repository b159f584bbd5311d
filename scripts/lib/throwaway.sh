# shellcheck shell=bash
# A throwaway copy of Warren's infrastructure for tests and benchmarks: its own data directory
# and ports that do not collide with a running scripts/up; torn down when the caller exits.
# The caller sets WARREN_ROOT and sources this file; then calls throwaway_start.

WARREN_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/warren-throwaway.XXXXXX")
export WARREN_DATA_DIR
export WARREN_RABBIT_PREFIX=warren-test
export WARREN_AMQP_BASE_PORT=${WARREN_TEST_AMQP_BASE_PORT:-5782}
export WARREN_MGMT_BASE_PORT=${WARREN_TEST_MGMT_BASE_PORT:-15782}
export WARREN_PROMETHEUS_BASE_PORT=${WARREN_TEST_PROMETHEUS_BASE_PORT:-15792}
export WARREN_DIST_BASE_PORT=${WARREN_TEST_DIST_BASE_PORT:-25782}
export WARREN_PG_PORT=${WARREN_TEST_PG_PORT:-5442}
export WARREN_MONGO_PORT=${WARREN_TEST_MONGO_PORT:-27027}
# Throwaway passwords; a developer's .env is for scripts/up.
export WARREN_IGNORE_DOTENV=1
# WARREN_RABBIT_NETNS=1 from the caller puts each RabbitMQ node in a network namespace of its
# own, so that a test can partition the cluster for real (scripts/lib/netns.sh).
export WARREN_RABBIT_NETNS=${WARREN_RABBIT_NETNS:-0}
# A private CA, a TLS listener on RabbitMQ node 1, PostgreSQL with ssl on and a MongoDB-compatible
# server that speaks only TLS, for the TLS tests (scripts/lib/infra.sh); WARREN_TLS=0 leaves them out.
export WARREN_TLS=${WARREN_TLS:-1}

# shellcheck source=infra.sh
. "$WARREN_ROOT/scripts/lib/infra.sh"

throwaway_teardown() {
  local code=$?
  trap - EXIT INT TERM
  log "tearing down the throwaway infrastructure"
  infra_stop
  if [ -n "${WARREN_KEEP_TEST_DATA:-}" ]; then
    log "data kept in $WARREN_DATA_DIR"
  else
    pg_forget_data_dir
    rm -rf "$WARREN_DATA_DIR"
  fi
  exit "$code"
}

throwaway_start() {
  trap throwaway_teardown EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  infra_start
  infra_export_endpoints
}
