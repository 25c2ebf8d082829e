// Package lvs owns the director's IPVS table: the desired model built from the
// virtual servers the configuration declares (a Spec, which the director maps from
// the configuration) and the health of the real servers (FromSpec), the pure,
// deterministic Diff between that model and what the kernel holds, the narrow
// Kernel interface that applies the difference (an in-memory Fake for tests and
// the generic-netlink implementation on Linux), the kernel's connection-sync daemons
// (SyncDaemons, SetSyncRole), the director's IPVS sysctls, and the ipvsadm-style
// listing of the live table.
//
// Ownership is the rule everything here keeps: only the services the
// configuration declares are ever added, changed or deleted. Services that
// another tool put into the kernel are read (so they can be listed) but never
// touched, not even by Withdraw.
//
// The model is kernel-agnostic and normalized: the flags the kernel echoes
// (HASHED), its default persistence netmask and the timeout of non-persistent
// services are folded away on both sides, so a table read back from the kernel
// compares equal to the one that was written, and a resync of an unchanged
// table produces no operations.
package lvs
