#!/bin/bash
# The director pair failing over, in network namespaces on this machine: director A
# (priority 150) and director B (priority 100) run `hadirector run`, a client pings the VIP.
# Timeline: election → client traffic → A loses power (kill -9 + link down) → B takes over
# (GARP moves the client) → A returns and preempts. Exits 0 only if every step happened.
# Needs root. TEST-NET-1 addresses only, inside namespaces this script creates and removes.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "demo: needs root (network namespaces)" >&2; exit 2; fi
need=""
command -v ip >/dev/null || need="$need iproute2"
command -v busybox >/dev/null || need="$need busybox-static"
command -v bc >/dev/null || need="$need bc"
if [ -n "$need" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
BIN=${BIN:-bin/hadirector}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/hadirector || exit 1
BIN=$(realpath "$BIN")

ID=demo$$
WORK=$(mktemp -d /tmp/hadirector-demo.XXXXXX)
VIP=192.0.2.100
T0=$(date +%s.%N)
declare -A RESULT
ORDER=()

ts() { printf '%7.3fs' "$(echo "$(date +%s.%N) - $T0" | bc)"; }
say() { echo "[$(ts)] $*"; }
step() { ORDER+=("$1"); RESULT[$1]=$2; if [ "$2" = ok ]; then say "  ✔ $1"; else say "  ✘ $1: $2"; fi; }
ns() { local n=$1; shift; ip netns exec "$ID-$n" "$@"; }

cleanup() {
	for p in "$WORK"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
	for n in a b client sw; do ip netns del "$ID-$n" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# The LAN: a bridge in its own namespace, one veth per host.
ip netns add "$ID-sw"
ns sw ip link add br0 type bridge
ns sw ip link set br0 up
host() { # name addr mac
	ip netns add "$ID-$1"
	ip link add eth0 netns "$ID-$1" address "$3" type veth peer name "p-$1" netns "$ID-sw"
	ns sw ip link set "p-$1" master br0 up
	ns "$1" ip link set lo up
	ns "$1" ip addr add "$2" dev eth0
	ns "$1" ip link set eth0 up
}
host a 192.0.2.1/24 02:00:00:00:00:0a
host b 192.0.2.2/24 02:00:00:00:00:0b
host client 192.0.2.50/24 02:00:00:00:00:c1

# Director configurations: the examples' VRRP instance with 100 ms adverts, so the demo
# is quick (Master_Down_Interval for B = 3 × 100 ms + (256−100)/256 × 100 ms ≈ 361 ms).
for d in a b; do
	prio=150; [ $d = b ] && prio=100
	cat >"$WORK/$d.toml" <<EOF
[global]
status_socket = ""
garp_master_delay = "2s"
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
version = 3
priority = $prio
advert_int = "100ms"
virtual_ipaddress = ["$VIP/24"]
virtual_ipaddress_label = "eth0:1"
EOF
done
start() {
	ns "$1" "$BIN" run -c "$WORK/$1.toml" -state-dir "$WORK/state-$1" >>"$WORK/$1.log" 2>&1 &
	echo $! >"$WORK/$1.pid"
	disown
}
hasvip() { ns "$1" ip -o -4 addr show dev eth0 | grep -q " $VIP/"; }
waitfor() { # timeout-seconds command...
	local end=$(($(date +%s%N) + ${1%.*}000000000 + ${1#*.}00000000)); shift
	until "$@"; do [ "$(date +%s%N)" -gt $end ] && return 1; sleep 0.02; done
}
neighmac() { ns client ip neigh show "$VIP" dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}'; }
lastline() { grep "$2" "$WORK/$1.log" | tail -1; }
logtime() { sed -E 's/^time=([^ ]+) .*/\1/' | xargs -I{} date -d {} +%s.%N; }

say "1. election: A (priority 150) and B (priority 100) start"
start a; start b
if waitfor 3.0 hasvip a && ! hasvip b; then step "A is master and holds $VIP, B is backup" ok
else step "A is master and holds $VIP, B is backup" "A has VIP: $(hasvip a && echo yes || echo no), B: $(hasvip b && echo yes || echo no)"; fi
say "  A: $(lastline a 'to=MASTER' | sed 's/.*msg=//')"
say "  B: $(lastline b 'to=BACKUP' | sed 's/.*msg=//')"

say "2. the client talks to the VIP"
ns client busybox ping -c 1 -W 1 -q $VIP >/dev/null && step "client reaches $VIP" ok || step "client reaches $VIP" "no reply"
mac=$(neighmac)
[ "$mac" = 02:00:00:00:00:0a ] && step "client's neighbor entry for $VIP is A's MAC ($mac)" ok || step "client's neighbor entry for $VIP is A's MAC" "it is '$mac'"

say "3. director A loses power (kill -9 and its link down at once)"
ns client busybox ping -i 0.05 -c 60 -W 1 $VIP >"$WORK/ping.txt" 2>&1 &
pingpid=$!
sleep 0.5
killed=$(date +%s.%N)
kill -9 "$(cat "$WORK/a.pid")"
ns sw ip link set p-a down
if waitfor 2.0 hasvip b; then
	took=$(echo "$(lastline b 'to=MASTER' | logtime) - $killed" | bc)
	step "B took over" ok
	say "  B became MASTER $(printf '%.0f' "$(echo "$took * 1000" | bc)") ms after the power loss (Master_Down_Interval 361 ms + up to one 100 ms advert interval)"
else step "B took over" "B has no VIP"; fi
waitfor 1.0 eval '[ "$(neighmac)" = 02:00:00:00:00:0b ]'
mac=$(neighmac)
[ "$mac" = 02:00:00:00:00:0b ] && step "gratuitous ARP moved the client's entry to B's MAC ($mac)" ok || step "client's entry moved to B" "it is '$mac'"
wait $pingpid
sent=$(grep -Eo '[0-9]+ packets transmitted' "$WORK/ping.txt" | cut -d' ' -f1)
recv=$(grep -Eo '[0-9]+ packets received' "$WORK/ping.txt" | cut -d' ' -f1)
say "  client pings during the failover: $sent sent, $((sent - recv)) lost (one every 50 ms)"
[ "$recv" -gt 0 ] && [ $((sent - recv)) -le 20 ] && step "client traffic resumed through B" ok || step "client traffic resumed through B" "$recv of $sent answered"

say "4. A returns (link up, daemon restarted) and preempts"
ns sw ip link set p-a up
start a
if waitfor 3.0 hasvip a && waitfor 1.0 eval '! hasvip b'; then step "A preempted: A holds $VIP, B released it" ok
else step "A preempted" "A: $(hasvip a && echo yes || echo no), B: $(hasvip b && echo yes || echo no)"; fi
grep -q "removed stale VIP" "$WORK/a.log" && say "  A removed the VIP its killed run had left on eth0 before joining the election"
waitfor 1.0 eval '[ "$(neighmac)" = 02:00:00:00:00:0a ]'
mac=$(neighmac)
[ "$mac" = 02:00:00:00:00:0a ] && step "client's entry back on A's MAC" ok || step "client's entry back on A" "it is '$mac'"

say "5. B stops gracefully (SIGTERM)"
kill -TERM "$(cat "$WORK/b.pid")"
sleep 0.5
hasvip a && ! hasvip b && step "A master, B stopped cleanly" ok || step "A master, B stopped cleanly" "unexpected VIP state"

echo
echo "summary"
printf '  %-70s %s\n' "step" "result"
fail=0
for s in "${ORDER[@]}"; do
	printf '  %-70s %s\n' "$s" "${RESULT[$s]}"
	[ "${RESULT[$s]}" = ok ] || fail=1
done
if [ $fail = 0 ]; then echo "demo: every step happened as narrated"; else echo "demo: FAILED"; fi
exit $fail
