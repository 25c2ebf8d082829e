// Package vip owns the virtual addresses of a director on Linux: claiming them on an
// interface (netlink), remembering which ones it claimed (a state file, so a restarted
// daemon knows what is its own after a crash), announcing them (gratuitous ARP for IPv4,
// unsolicited neighbour advertisements for IPv6, both shaped byte for byte like
// keepalived's), and the VRRP virtual MAC interfaces of use_vmac (macvlan).
//
// It knows nothing about VRRP elections: the director decides when to Add, Burst and
// Remove, and schedules repeat bursts (garp_master_delay, garp_master_refresh).
//
// Network namespaces: a Manager's netlink sockets and an Announcer's packet sockets belong
// to the namespace of the thread that created them and keep working from any goroutine.
// EnsureVMAC and RemoveVMAC act in the calling thread's namespace.
package vip
