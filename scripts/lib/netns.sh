# shellcheck shell=bash
# Real network partitions for the local RabbitMQ cluster. With WARREN_RABBIT_NETNS=1 before
# rabbit_start (or throwaway_start), each of the three nodes runs in a network namespace of its
# own, wired by a veth pair to a bridge in the root namespace:
#
#   root namespace: bridge wbr-<tag>, 198.18.X.1/24: the clients (services, tests), and
#                   PostgreSQL and the MongoDB-compatible server, still on 127.0.0.1
#   node N:         namespace warren-<tag>-N, eth0 198.18.X.1N/24, its own loopback and epmd;
#                   rabbit_run runs node N's CLIs in there, so they reach it in any partition
#
# <tag> is a hash of the data directory, so two runs never share a name, and X is the first
# /24 of 198.18.0.0/15 (RFC 2544's range for network tests) that no interface here uses yet.
# Node names are long names with the node's address as host part (warren-test-1@198.18.X.11),
# so no name needs resolving. A partition is a set of blackhole routes, in the nodes'
# namespaces and in the root one: packets to a cut-off address vanish without an answer, as on
# a broken link, and established connections die by Erlang's tick, not by a reset.
#
# The layout is recorded in $WARREN_DATA_DIR/rabbitmq/netns.env while it exists; every function
# here and in infra.sh reads it, so a fresh shell (testkit's `infra`) sees the same cluster.
# netns.net keeps the subnet after a stop, for the next start of the same data directory.
# Sourced by infra.sh, which defines log, warn, die and wait_until.

netns_file() { echo "$WARREN_DATA_DIR/rabbitmq/netns.env"; }

# Whether this data directory's cluster runs in namespaces.
netns_on() { [ -f "$(netns_file)" ]; }

netns_load() {
  [ -n "${WARREN_NETNS_TAG:-}" ] && [ "${WARREN_NETNS_LOADED_FOR:-}" = "$WARREN_DATA_DIR" ] && return 0
  netns_on || die "the RabbitMQ nodes of $WARREN_DATA_DIR do not run in network namespaces"
  # shellcheck disable=SC1090
  . "$(netns_file)"
  WARREN_NETNS_LOADED_FOR=$WARREN_DATA_DIR
}

netns_tag() { printf '%s' "$(readlink -m "$WARREN_DATA_DIR")" | sha1sum | cut -c1-6; }
netns_name() { netns_load && echo "warren-$WARREN_NETNS_TAG-$1"; }
netns_bridge() { netns_load && echo "wbr-$WARREN_NETNS_TAG"; }
netns_veth() { netns_load && echo "wv-$WARREN_NETNS_TAG-$1"; }
# netns_addr N: node N's address; netns_addr 0: the root namespace's (the bridge's).
netns_addr() {
  netns_load
  if [ "$1" = 0 ]; then echo "$WARREN_NETNS_NET.1"; else echo "$WARREN_NETNS_NET.1$1"; fi
}

# netns_exec N COMMAND...: runs COMMAND inside node N's namespace.
netns_exec() {
  local n=$1
  shift
  ip netns exec "$(netns_name "$n")" "$@"
}

# Succeeds if this process may create namespaces, bridges and veth pairs; says why not if not.
netns_available() {
  local probe="warren-probe-$$"
  if ! is_root; then
    warn "network namespaces need root; WARREN_RABBIT_NETNS cannot be honoured"
    return 1
  fi
  if ! command -v ip >/dev/null; then
    warn "the ip command (iproute2) is missing; WARREN_RABBIT_NETNS cannot be honoured"
    return 1
  fi
  if ! ip netns add "$probe" 2>/dev/null; then
    warn "ip netns add failed here (no CAP_SYS_ADMIN, or no namespace support); WARREN_RABBIT_NETNS cannot be honoured"
    return 1
  fi
  ip netns del "$probe"
  if ! ip link add "wbr-probe$$" type bridge 2>/dev/null; then
    warn "cannot create a bridge here; WARREN_RABBIT_NETNS cannot be honoured"
    return 1
  fi
  ip link del "wbr-probe$$"
}

# netns_net_used A.B.C: whether an interface in the root namespace has an address in A.B.C.0/24.
netns_net_used() {
  local used
  used=$(ip -4 -o addr show | awk '{print $4}')
  grep -q "^${1//./\\.}\\." <<<"$used"
}

# The first /24 of 198.18.0.0/15 that no interface in the root namespace has an address in.
netns_free_net() {
  local second third
  for second in 18 19; do
    for third in $(seq 0 255); do
      netns_net_used "198.$second.$third" || {
        echo "198.$second.$third"
        return 0
      }
    done
  done
  return 1
}

# Creates the bridge, the three namespaces and their links, and records them. A failure half
# way removes what was made.
netns_create() {
  local tag net n ns veth
  tag=$(netns_tag)
  mkdir -p "$WARREN_DATA_DIR/rabbitmq"
  # Choosing the subnet and taking it (the bridge address) is one step among concurrent runs.
  exec 8>/run/lock/warren-netns.lock
  flock 8
  # A data directory keeps its subnet: its node names carry the addresses.
  if [ -s "$WARREN_DATA_DIR/rabbitmq/netns.net" ]; then
    net=$(cat "$WARREN_DATA_DIR/rabbitmq/netns.net")
    if netns_net_used "$net"; then
      flock -u 8
      die "this data directory's subnet $net.0/24 is in use by another interface"
    fi
  else
    net=$(netns_free_net) || {
      flock -u 8
      die "no free /24 left in 198.18.0.0/15"
    }
    echo "$net" >"$WARREN_DATA_DIR/rabbitmq/netns.net"
  fi
  printf 'WARREN_NETNS_TAG=%s\nWARREN_NETNS_NET=%s\n' "$tag" "$net" >"$(netns_file)"
  WARREN_NETNS_TAG=$tag WARREN_NETNS_NET=$net WARREN_NETNS_LOADED_FOR=$WARREN_DATA_DIR
  log "network namespaces $(netns_name '{1,2,3}') on bridge $(netns_bridge) ($net.0/24)"
  if ! {
    ip link add "$(netns_bridge)" type bridge &&
      ip addr add "$(netns_addr 0)/24" dev "$(netns_bridge)" &&
      ip link set "$(netns_bridge)" up
  }; then
    flock -u 8
    netns_destroy
    die "cannot create bridge $(netns_bridge)"
  fi
  flock -u 8
  exec 8>&-
  for n in 1 2 3; do
    ns=$(netns_name "$n") veth=$(netns_veth "$n")
    {
      ip netns add "$ns" &&
        ip link add "$veth" type veth peer name eth0 netns "$ns" &&
        ip link set "$veth" master "$(netns_bridge)" &&
        ip link set "$veth" up &&
        ip -n "$ns" link set lo up &&
        ip -n "$ns" addr add "$(netns_addr "$n")/24" dev eth0 &&
        ip -n "$ns" link set eth0 up
    } || {
      netns_destroy
      die "cannot create network namespace $ns"
    }
  done
}

# Removes the namespaces (after ending what still runs in them, such as epmd), the veth pairs
# and the bridge. Safe to call twice, and on a half-made layout.
netns_destroy() {
  netns_on || return 0
  netns_load
  local n ns pids
  for n in 1 2 3; do
    ns=$(netns_name "$n")
    [ -e "/run/netns/$ns" ] || continue
    pids=$(ip netns pids "$ns" 2>/dev/null) || true
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$(netns_veth "$n")" 2>/dev/null || true
  done
  # Blackhole routes belong to no device: those a partition left in the root namespace stay
  # unless removed.
  for n in 1 2 3; do ip route del blackhole "$(netns_addr "$n")/32" 2>/dev/null || true; done
  ip link del "$(netns_bridge)" 2>/dev/null || true
  rm -f "$(netns_file)"
  unset WARREN_NETNS_TAG WARREN_NETNS_NET WARREN_NETNS_LOADED_FOR
}

# ---------------------------------------------------------------------------------------------
# Partitions. Each cuts with blackhole routes; netns_heal removes every one of them.

# netns_drop WHERE ADDRESS: packets from namespace WHERE (0: the root) to ADDRESS vanish.
netns_drop() {
  local where=$1 address=$2
  if [ "$where" = 0 ]; then
    ip route replace blackhole "$address/32"
  else
    ip -n "$(netns_name "$where")" route replace blackhole "$address/32"
  fi
}

# netns_apart A B: nodes A and B cannot reach each other.
netns_apart() {
  netns_drop "$1" "$(netns_addr "$2")"
  netns_drop "$2" "$(netns_addr "$1")"
}

netns_others() {
  local n
  for n in 1 2 3; do [ "$n" = "$1" ] || echo "$n"; done
}

# netns_isolate N: node N and the other two nodes cannot reach each other; clients still reach
# every node.
netns_isolate() {
  local n=$1 other
  netns_load
  log "partition: node $n isolated from the other nodes"
  for other in $(netns_others "$n"); do netns_apart "$n" "$other"; done
}

# netns_partial N: node N still reaches both others, but those two no longer reach each other.
netns_partial() {
  local n=$1 others
  netns_load
  mapfile -t others < <(netns_others "$n")
  log "partition: nodes ${others[0]} and ${others[1]} apart, node $n sees both"
  netns_apart "${others[0]}" "${others[1]}"
}

# netns_cut_clients N: nothing in the root namespace (services, tests) reaches node N; the
# nodes still reach each other.
netns_cut_clients() {
  local n=$1
  netns_load
  log "partition: clients cut from node $n"
  netns_drop 0 "$(netns_addr "$n")"
  netns_drop "$n" "$(netns_addr 0)"
}

# netns_heal: removes every partition.
netns_heal() {
  local n
  netns_load
  log "partition healed"
  for n in 1 2 3; do
    ip -n "$(netns_name "$n")" route flush type blackhole 2>/dev/null || true
    ip route del blackhole "$(netns_addr "$n")/32" 2>/dev/null || true
  done
}

# netns_reaches A B: whether namespace A (0: the root) can open a TCP connection to node B's
# epmd within two seconds (epmd answers whether or not the node has paused itself).
netns_reaches() {
  local from=$1 to=$2 target
  target="/dev/tcp/$(netns_addr "$to")/4369"
  if [ "$from" = 0 ]; then
    timeout 2 bash -c "exec 3<>$target" 2>/dev/null
  else
    netns_exec "$from" timeout 2 bash -c "exec 3<>$target" 2>/dev/null
  fi
}
