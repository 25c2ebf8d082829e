#!/bin/bash
# Regenerate the keepalived VRRP/GARP captures in this directory.
# Needs root, keepalived, tcpdump, editcap (wireshark-common).
# Usage: ./capture.sh [name ...]   (default: all captures)
#
# Topology (TEST-NET only, private netns, removed afterwards):
#   netns ka-node  veth0 02:00:00:00:00:01 192.0.2.1/24  <- keepalived runs here
#   netns ka-peer  veth0 02:00:00:00:00:02 192.0.2.2/24  <- tcpdump runs here
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/kacap}
A=ka-node
B=ka-peer
FILTER='ip proto 112 or ip6 proto 112 or arp or (icmp6 and ip6[40] == 136)'
mkdir -p "$WORK"

setup() {
	ip netns add $A
	ip netns add $B
	ip -n $A link add veth0 address 02:00:00:00:00:01 type veth \
		peer name vethp netns $B address 02:00:00:00:00:02
	ip -n $B link set vethp name veth0
	ip -n $A addr add 192.0.2.1/24 dev veth0
	ip -n $B addr add 192.0.2.2/24 dev veth0
	ip -n $A link set lo up; ip -n $B link set lo up
	ip -n $A link set veth0 up; ip -n $B link set veth0 up
	sleep 3 # let IPv6 link-local DAD finish
}

# static neighbours so no ARP resolution traffic pollutes the captures
# (re-added before every run: removing keepalived's VIPs/addresses can flush them)
neigh() {
	ip -n $A neigh replace 192.0.2.2 lladdr 02:00:00:00:00:02 dev veth0 nud permanent
	ip -n $B neigh replace 192.0.2.1 lladdr 02:00:00:00:00:01 dev veth0 nud permanent
}

teardown() {
	ip netns del $A 2>/dev/null
	ip netns del $B 2>/dev/null
}

# run NAME RUNSECS PRIO0
#   RUNSECS: how long keepalived runs before SIGTERM
#   PRIO0=1: keep capturing through SIGTERM (priority-0 adverts), else stop capture first
run() {
	local name=$1 secs=$2 prio0=$3
	rm -f "$WORK/$name".*
	neigh
	ip netns exec $B tcpdump -Z root -U -n -i veth0 -w "$WORK/$name.raw.pcap" "$FILTER" \
		2>"$WORK/$name.tcpdump.log" &
	local tpid=$!
	sleep 1
	ip netns exec $A keepalived -n -l -D -P -f "$DIR/$name.conf" \
		-p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" >"$WORK/$name.log" 2>&1 &
	local kpid=$!
	sleep "$secs"
	if [ "$prio0" = 1 ]; then
		kill -TERM $kpid; wait $kpid; sleep 2
		kill -INT $tpid; wait $tpid
	else
		kill -INT $tpid; wait $tpid
		kill -TERM $kpid; wait $kpid
	fi
	ip -n $A addr flush dev veth0 scope global
	ip -n $A addr add 192.0.2.1/24 dev veth0
	sleep 1
}

ALL="v2-mcast v2-auth v3-mcast-v4 v3-unicast-v4 v3-unicast-old-checksum v3-mcast-v6 v2-shutdown-prio0"
trap teardown EXIT
teardown
setup
for n in ${@:-$ALL}; do
	case $n in
	v2-mcast)          run $n 12 0 ;;  # ~3.6s BACKUP + both GARP bursts (delay 5s)
	v2-auth)           run $n 6 0 ;;
	v3-mcast-v4)       run $n 2 0 ;;
	v3-unicast-v4)     run $n 8 0 ;;
	v3-unicast-old-checksum) run $n 8 0 ;;
	v3-mcast-v6)       run $n 12 0 ;;
	v2-shutdown-prio0) run $n 6 1 ;;
	esac
	echo "$n: $(tcpdump -r "$WORK/$n.raw.pcap" 2>/dev/null | wc -l) packets"
	# trim to the first N packets (classic pcap, not pcapng)
	case $n in
	v3-mcast-v4) editcap -F pcap -r "$WORK/$n.raw.pcap" "$DIR/$n.pcap" 1-14 ;;
	*)           editcap -F pcap "$WORK/$n.raw.pcap" "$DIR/$n.pcap" ;;
	esac
done
python3 "$DIR/extract.py"
