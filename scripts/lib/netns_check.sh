#!/usr/bin/env bash
# Self-check of the namespaced RabbitMQ cluster (scripts/lib/netns.sh): starts a throwaway
# cluster with WARREN_RABBIT_NETNS=1, partitions it the three ways netns.sh offers, checks what
# pause_minority makes of each, heals it, and after teardown checks that no namespace, link or
# route is left. Needs root: where namespaces cannot be made it says why and exits 77 (skipped).
#
# PostgreSQL and the MongoDB-compatible server start too (throwaway_start starts everything),
# on ports of their own so that a running scripts/test or dev cluster is not in the way.
set -euo pipefail
WARREN_ROOT=${WARREN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export WARREN_ROOT

if [ "${1:-}" != --inner ]; then
  record=$(mktemp)
  status=0
  "${BASH_SOURCE[0]}" --inner "$record" || status=$?
  read -r tag net <"$record" || true
  rm -f "$record"
  if [ -n "${tag:-}" ]; then
    leftovers=$(
      ip netns list | grep "^warren-$tag-" || true
      ip -o link show | grep -E "(wbr|wv)-$tag" || true
      ip route show | grep -F "$net." || true
    )
    if [ -n "$leftovers" ]; then
      printf 'FAIL: teardown left behind:\n%s\n' "$leftovers" >&2
      exit 1
    fi
    echo "teardown removed namespaces warren-$tag-{1,2,3}, bridge wbr-$tag, veths and routes"
  fi
  if [ "$status" = 0 ]; then echo "netns check passed"; fi
  exit "$status"
fi

record=$2
export WARREN_TEST_AMQP_BASE_PORT=${WARREN_TEST_AMQP_BASE_PORT:-5882}
export WARREN_TEST_MGMT_BASE_PORT=${WARREN_TEST_MGMT_BASE_PORT:-15882}
export WARREN_TEST_PROMETHEUS_BASE_PORT=${WARREN_TEST_PROMETHEUS_BASE_PORT:-15892}
export WARREN_TEST_DIST_BASE_PORT=${WARREN_TEST_DIST_BASE_PORT:-25882}
export WARREN_TEST_PG_PORT=${WARREN_TEST_PG_PORT:-5452}
export WARREN_TEST_MONGO_PORT=${WARREN_TEST_MONGO_PORT:-27037}
export WARREN_RABBIT_NETNS=1
# shellcheck source=throwaway.sh
. "$WARREN_ROOT/scripts/lib/throwaway.sh"
export WARREN_RABBIT_PREFIX=warren-netns-check

if ! netns_available; then
  echo "SKIPPED: network namespaces cannot be made here (see the warning above)" >&2
  rm -rf "$WARREN_DATA_DIR"
  exit 77
fi

fail() { die "FAIL: $*"; }
# show COMMAND...: prints the command and its output, for the record.
show() {
  printf '$ %s\n' "$*"
  "$@" 2>&1 | sed 's/^/  /' || true
}
expect() {
  local what=$1
  shift
  "$@" >/dev/null 2>&1 || fail "$what"
}
# holds_for SECONDS DESCRIPTION COMMAND...: COMMAND keeps succeeding for SECONDS.
holds_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    "$@" >/dev/null 2>&1 || fail "$what stopped holding"
    sleep "$WARREN_POLL_INTERVAL"
  done
}
amqp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$(rabbit_host "$1")/$(amqp_port "$1")" 2>/dev/null; }
# mgmt N METHOD PATH [BODY]: the management API of node N as warren-admin (the password goes
# through curl's standard input, not its command line).
mgmt() {
  local n=$1 method=$2 path=$3 body=${4:-}
  printf 'user = "warren-admin:%s"\n' "$WARREN_ADMIN_PASSWORD" |
    curl -sf -m 5 -K - -X "$method" -H 'content-type: application/json' ${body:+-d "$body"} \
      "http://$(rabbit_host "$n"):$(mgmt_port "$n")/api/$path"
}
publish() {
  mgmt "$1" POST exchanges/netns-check/amq.default/publish \
    "{\"properties\":{\"delivery_mode\":2},\"routing_key\":\"check\",\"payload\":\"$2\",\"payload_encoding\":\"string\"}" |
    grep -q '"routed":true'
}
# The payloads taken from the check queue through node N, one a line.
take_all() {
  mgmt "$1" POST queues/netns-check/check/get '{"count":10,"ackmode":"ack_requeue_false","encoding":"auto"}' |
    python3 -c 'import json, sys; print("\n".join(m["payload"] for m in json.load(sys.stdin)))'
}
all_running() { rabbit_running 1 && rabbit_running 2 && rabbit_running 3; }
both_paused() { rabbit_paused "$1" && rabbit_paused "$2"; }
running_nodes() {
  rabbitmqctl_on "$1" -q cluster_status --formatter json |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print("running:", " ".join(sorted(d["running_nodes"])), "| partitions:", d["partitions"])'
}

throwaway_start
netns_load
echo "$WARREN_NETNS_TAG $WARREN_NETNS_NET" >"$record"
[ "$WARREN_RABBIT_NETNS_ACTIVE" = 1 ] || fail "the cluster did not start in namespaces"
[[ $WARREN_AMQP_NODES == amqp://198.1[89].* ]] || fail "WARREN_AMQP_NODES is $WARREN_AMQP_NODES"
show ip netns list
show ip -br addr show dev "$(netns_bridge)"
show netns_exec 1 ip -br addr
echo "WARREN_AMQP_NODES=$WARREN_AMQP_NODES"
echo "WARREN_MANAGEMENT_URLS=$WARREN_MANAGEMENT_URLS"
show running_nodes 1
for n in 1 2 3; do
  expect "clients reach node $n's AMQP port" amqp_open "$n"
  expect "clients reach node $n's management API" mgmt "$n" GET overview
done
mgmt 2 PUT vhosts/netns-check >/dev/null || fail "cannot create vhost netns-check"
mgmt 2 PUT permissions/netns-check/warren-admin '{"configure":".*","write":".*","read":".*"}' >/dev/null ||
  fail "cannot grant warren-admin vhost netns-check"
mgmt 2 PUT queues/netns-check/check '{"durable":true,"arguments":{"x-queue-type":"quorum"}}' >/dev/null ||
  fail "cannot declare the quorum queue"
expect "publishing through node 1 before the partition" publish 1 before

log "node 1 isolated: it must pause (pause_minority) while nodes 2 and 3 keep serving"
netns_isolate 1
started=$SECONDS
wait_until 90 "node 1 to pause" rabbit_paused 1 || fail "node 1 did not pause"
echo "node 1 paused $((SECONDS - started))s after the cut"
show rabbitmqctl_on 1 -q eval 'rabbit:is_running().'
show rabbit_running 1
wait_until 60 "node 2 to count two running nodes" rabbit_sees_running 2 2 || fail "node 2 does not see 2 running nodes"
wait_until 60 "node 3 to count two running nodes" rabbit_sees_running 3 2 || fail "node 3 does not see 2 running nodes"
show running_nodes 2
rabbit_cluster_complete && fail "rabbit_cluster_complete holds while node 1 is paused"
amqp_open 1 && fail "node 1, paused, still accepts AMQP clients"
rabbit_cut_off 2 1 || fail "node 2 still has a distribution connection to node 1"
rabbit_cut_off 1 3 || fail "node 1 still has a distribution connection to node 3"
expect "publishing through node 2 while node 1 is apart" publish 2 during
got=$(take_all 3 | tr '\n' ' ')
echo "taken through node 3 while node 1 is apart: $got"
[ "$got" = "before during " ] || fail "expected 'before during', got '$got'"

log "healing"
netns_heal
started=$SECONDS
wait_until 180 "the cluster to be complete again" rabbit_cluster_complete || fail "the cluster did not heal"
echo "cluster complete $((SECONDS - started))s after the heal"
expect "every node runs once the cluster is complete" all_running
show running_nodes 1
expect "publishing through node 1 after the heal" publish 1 after
got=$(take_all 1 | tr '\n' ' ')
[ "$got" = "after " ] || fail "expected 'after', got '$got'"

log "clients cut from node 3: the nodes stay together for longer than a tick timeout"
netns_cut_clients 3
netns_reaches 0 3 && fail "the root namespace still reaches node 3"
amqp_open 3 && fail "clients still reach node 3's AMQP port"
expect "clients reach node 1" amqp_open 1
echo "root namespace -> node 3: no answer; root -> node 1: answers"
holds_for 25 "a complete cluster while clients are cut from node 3" rabbit_cluster_complete
echo "the cluster stayed complete for 25 s (net_ticktime is 15 s)"
show running_nodes 3
netns_heal
expect "clients reach node 3 again" wait_until 10 "node 3's AMQP port" amqp_open 3

log "partial partition: nodes 2 and 3 apart, node 1 sees both"
netns_partial 1
started=$SECONDS
# RabbitMQ 3.10 turns a partial partition into pauses: each of 2 and 3 saw the other go down
# while node 1 still sees it, so both pause "until the entire cluster recovers", and node 1
# runs alone, without a majority for any quorum queue.
wait_until 90 "nodes 2 and 3 to pause" both_paused 2 3 ||
  fail "nodes 2 and 3 did not both pause"
echo "nodes 2 and 3 paused $((SECONDS - started))s after the cut"
expect "node 1 still runs" rabbit_running 1
rabbit_cluster_complete && fail "rabbit_cluster_complete holds while nodes 2 and 3 are paused"
show grep -h -A3 "Partial partition detected" "$WARREN_DATA_DIR/rabbitmq/node-2/log/warren-netns-check-2@$(netns_addr 2).log"
netns_heal
started=$SECONDS
wait_until 180 "the cluster to be complete again" rabbit_cluster_complete || fail "the cluster did not heal"
echo "cluster complete $((SECONDS - started))s after the heal"
expect "every node runs once the cluster is complete" all_running
show running_nodes 2
