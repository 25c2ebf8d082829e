package director

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hadirector/hadirector/lvs"
)

// Metric descriptions. States are values, not labels, so series never churn on a
// transition. Every metric is documented in the README.
var (
	mState = prometheus.NewDesc("hadirector_vrrp_state",
		"VRRP state of the instance: 0 init/stopped, 1 backup, 2 master, 3 fault (keepalived's numbering).",
		[]string{"vrrp_instance", "interface", "vrid"}, nil)
	mPriority = prometheus.NewDesc("hadirector_vrrp_priority",
		"Configured priority.", []string{"vrrp_instance"}, nil)
	mEffPriority = prometheus.NewDesc("hadirector_vrrp_effective_priority",
		"Priority after tracking; this is what the adverts carry.", []string{"vrrp_instance"}, nil)
	mTransitions = prometheus.NewDesc("hadirector_vrrp_transitions_total",
		"State transitions of the instance.", []string{"vrrp_instance"}, nil)
	mSent = prometheus.NewDesc("hadirector_vrrp_adverts_sent_total",
		"Adverts sent (one per destination).", []string{"vrrp_instance"}, nil)
	mReceived = prometheus.NewDesc("hadirector_vrrp_adverts_received_total",
		"Valid adverts received.", []string{"vrrp_instance"}, nil)
	mDropped = prometheus.NewDesc("hadirector_vrrp_adverts_dropped_total",
		"Received packets dropped, by reason.", []string{"reason"}, nil)
	mMismatch = prometheus.NewDesc("hadirector_vrrp_address_list_mismatch_total",
		"Accepted adverts whose address list differs from ours.", []string{"vrrp_instance"}, nil)
	mSendErrors = prometheus.NewDesc("hadirector_vrrp_send_errors_total",
		"Adverts that could not be sent.", []string{"vrrp_instance"}, nil)
	mGARPs = prometheus.NewDesc("hadirector_vrrp_garps_sent_total",
		"Gratuitous ARPs and unsolicited neighbor advertisements sent.", []string{"vrrp_instance"}, nil)
	mRestored = prometheus.NewDesc("hadirector_vrrp_vips_restored_total",
		"Addresses of the master deleted by someone else (ip addr del) and put back.", []string{"vrrp_instance"}, nil)
	mSplitBrain = prometheus.NewDesc("hadirector_vrrp_split_brain",
		"1 while master and another master was heard within the last Master_Down_Interval.", []string{"vrrp_instance"}, nil)
	mNotify = prometheus.NewDesc("hadirector_notify_hooks_total",
		"Hook runs by outcome: ran (started), failed (includes timed_out), timed_out, dropped (queue overflow).",
		[]string{"outcome"}, nil)
	mNotifyDuration = prometheus.NewDesc("hadirector_notify_hook_duration_seconds_total",
		"Summed run time of finished hooks; with hadirector_notify_hooks_total{outcome=\"ran\"} it gives the mean.", nil, nil)
	mReloads = prometheus.NewDesc("hadirector_reloads_total", "Configuration reloads applied.", nil, nil)

	svcLabels, rsLabels = []string{"service"}, []string{"service", "backend"}
	checkLabels         = []string{"service", "backend", "check", "type"}
	mIPVSOps            = prometheus.NewDesc("hadirector_ipvs_ops_total", "IPVS operations applied (add/update/delete of services and destinations).", nil, nil)
	mIPVSErrors         = prometheus.NewDesc("hadirector_ipvs_errors_total", "IPVS operations that failed.", nil, nil)
	mProgrammed         = prometheus.NewDesc("hadirector_ipvs_service_programmed", "1 when this node programs the virtual server (it is its master).", svcLabels, nil)
	mQuorum             = prometheus.NewDesc("hadirector_ipvs_service_quorum_up", "1 while the virtual server has quorum.", svcLabels, nil)
	mSvcConns           = prometheus.NewDesc("hadirector_ipvs_connections_total", "Connections scheduled by the service (node_ipvs_connections_total per service).", svcLabels, nil)
	mSvcPktsIn          = prometheus.NewDesc("hadirector_ipvs_incoming_packets_total", "Incoming packets of the service.", svcLabels, nil)
	mSvcPktsOut         = prometheus.NewDesc("hadirector_ipvs_outgoing_packets_total", "Outgoing packets of the service (NAT only).", svcLabels, nil)
	mSvcBytesIn         = prometheus.NewDesc("hadirector_ipvs_incoming_bytes_total", "Incoming bytes of the service.", svcLabels, nil)
	mSvcBytesOut        = prometheus.NewDesc("hadirector_ipvs_outgoing_bytes_total", "Outgoing bytes of the service (NAT only).", svcLabels, nil)
	mRSUp               = prometheus.NewDesc("hadirector_realserver_up", "1 when the real server's health check passes (or it has none).", rsLabels, nil)
	mRSWeight           = prometheus.NewDesc("hadirector_ipvs_backend_weight", "Desired weight of the real server (node_ipvs_backend_weight); absent when not in the table.", rsLabels, nil)
	mRSActive           = prometheus.NewDesc("hadirector_ipvs_backend_connections_active", "Active connections to the real server (node_ipvs_backend_connections_active).", rsLabels, nil)
	mRSInactive         = prometheus.NewDesc("hadirector_ipvs_backend_connections_inactive", "Inactive connections to the real server.", rsLabels, nil)
	mChecks             = prometheus.NewDesc("hadirector_check_total", "Health checks completed.", rsLabels, nil)
	mCheckFailures      = prometheus.NewDesc("hadirector_check_failures_total", "Health checks that failed.", rsLabels, nil)
	mCheckDuration      = prometheus.NewDesc("hadirector_check_duration_seconds", "Duration of the last completed health check.", rsLabels, nil)
	mOneCheckUp         = prometheus.NewDesc("hadirector_realserver_check_up", "1 while this check of the real server passes (check: its index, type: its type).", checkLabels, nil)
	mOneCheckFailures   = prometheus.NewDesc("hadirector_realserver_check_failures_total", "Failed runs of this check of the real server.", checkLabels, nil)
	mSyncRole           = prometheus.NewDesc("hadirector_ipvs_sync_daemon_role", "Connection-sync role this node runs for the followed instance: 0 none, 1 master, 2 backup (the kernel's IP_VS_STATE numbering).", []string{"vrrp_instance"}, nil)
	mSyncRunning        = prometheus.NewDesc("hadirector_ipvs_sync_daemon_running", "1 while the kernel runs the sync daemon of this role.", []string{"role"}, nil)
	mSyncSwitches       = prometheus.NewDesc("hadirector_ipvs_sync_daemon_switches_total", "Role changes of the sync daemons.", nil, nil)
	mSyncErrors         = prometheus.NewDesc("hadirector_ipvs_sync_daemon_errors_total", "Sync-daemon start/stop/list calls that failed.", nil, nil)
	mBGPPeerUp          = prometheus.NewDesc("hadirector_bgp_peer_up", "1 while the BGP session with the peer is established.", []string{"peer"}, nil)
	mBGPFlaps           = prometheus.NewDesc("hadirector_bgp_peer_flaps_total", "BGP sessions with the peer lost after being established.", []string{"peer"}, nil)
	mBGPAnnounced       = prometheus.NewDesc("hadirector_bgp_vip_announced", "1 while the VIP is announced over BGP.", []string{"prefix"}, nil)
	mBGPUpdates         = prometheus.NewDesc("hadirector_bgp_updates_total", "Announcements and withdrawals handed to the BGP speaker.", []string{"kind"}, nil)
	mInfo               = prometheus.NewDesc("hadirector_build_info", "Version of the running binary.", []string{"version"}, nil)
)

// collector reads a status snapshot at every scrape.
type collector struct{ d *Director }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mState, mPriority, mEffPriority, mTransitions, mSent, mReceived, mDropped,
		mMismatch, mSendErrors, mGARPs, mRestored, mSplitBrain, mNotify, mNotifyDuration, mReloads, mInfo, mIPVSOps, mIPVSErrors, mProgrammed,
		mQuorum, mSvcConns, mSvcPktsIn, mSvcPktsOut, mSvcBytesIn, mSvcBytesOut, mRSUp, mRSWeight, mRSActive, mRSInactive, mChecks, mCheckFailures, mCheckDuration, mOneCheckUp, mOneCheckFailures,
		mSyncRole, mSyncRunning, mSyncSwitches, mSyncErrors, mBGPPeerUp, mBGPFlaps, mBGPAnnounced, mBGPUpdates} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.d.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(mState, err)
		return
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, in := range s.Instances {
		ch <- prometheus.MustNewConstMetric(mState, gauge, float64(stateNumber(in.State)), in.Name, in.Interface, strconv.Itoa(in.VRID))
		ch <- prometheus.MustNewConstMetric(mPriority, gauge, float64(in.Priority), in.Name)
		ch <- prometheus.MustNewConstMetric(mEffPriority, gauge, float64(in.EffectivePriority), in.Name)
		ch <- prometheus.MustNewConstMetric(mTransitions, counter, float64(in.Transitions), in.Name)
		ch <- prometheus.MustNewConstMetric(mSent, counter, float64(in.AdvertsSent), in.Name)
		ch <- prometheus.MustNewConstMetric(mReceived, counter, float64(in.AdvertsReceived), in.Name)
		ch <- prometheus.MustNewConstMetric(mMismatch, counter, float64(in.AddrMismatch), in.Name)
		ch <- prometheus.MustNewConstMetric(mSendErrors, counter, float64(in.SendErrors), in.Name)
		ch <- prometheus.MustNewConstMetric(mGARPs, counter, float64(in.GARPsSent), in.Name)
		ch <- prometheus.MustNewConstMetric(mRestored, counter, float64(in.VIPsRestored), in.Name)
		split := 0.0
		if in.SplitBrain {
			split = 1
		}
		ch <- prometheus.MustNewConstMetric(mSplitBrain, gauge, split, in.Name)
	}
	for r, n := range s.Drops {
		ch <- prometheus.MustNewConstMetric(mDropped, counter, float64(n), r)
	}
	for outcome, n := range map[string]uint64{"ran": s.Notify.Ran, "failed": s.Notify.Failed, "timed_out": s.Notify.TimedOut, "dropped": s.Notify.Dropped} {
		ch <- prometheus.MustNewConstMetric(mNotify, counter, float64(n), outcome)
	}
	ch <- prometheus.MustNewConstMetric(mNotifyDuration, counter, s.Notify.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(mReloads, counter, float64(s.Reloads))
	if b := s.BGP; b != nil {
		for _, p := range b.Peers {
			ch <- prometheus.MustNewConstMetric(mBGPPeerUp, gauge, boolValue(p.Up), p.Address.String())
			ch <- prometheus.MustNewConstMetric(mBGPFlaps, counter, float64(p.Flaps), p.Address.String())
		}
		for _, v := range b.VIPs {
			ch <- prometheus.MustNewConstMetric(mBGPAnnounced, gauge, boolValue(v.Announced), v.Prefix.String())
		}
		ch <- prometheus.MustNewConstMetric(mBGPUpdates, counter, float64(b.Counters.Announcements), "announce")
		ch <- prometheus.MustNewConstMetric(mBGPUpdates, counter, float64(b.Counters.Withdrawals), "withdraw")
	}
	if l := s.LVS; l != nil {
		ch <- prometheus.MustNewConstMetric(mIPVSOps, counter, float64(l.Ops))
		ch <- prometheus.MustNewConstMetric(mIPVSErrors, counter, float64(l.Errors))
		b := func(v bool) float64 {
			if v {
				return 1
			}
			return 0
		}
		if sd := l.SyncDaemon; sd != nil {
			role := map[string]float64{"master": 1, "backup": 2}[sd.Role]
			ch <- prometheus.MustNewConstMetric(mSyncRole, gauge, role, sd.Instance)
			for _, r := range []lvs.SyncRole{lvs.SyncMaster, lvs.SyncBackup} {
				running := slices.ContainsFunc(sd.Running, func(d lvs.SyncDaemon) bool { return d.Role == r })
				ch <- prometheus.MustNewConstMetric(mSyncRunning, gauge, b(running), r.String())
			}
			ch <- prometheus.MustNewConstMetric(mSyncSwitches, counter, float64(sd.Switches))
			ch <- prometheus.MustNewConstMetric(mSyncErrors, counter, float64(sd.Errors))
		}
		for _, vs := range l.Services {
			ch <- prometheus.MustNewConstMetric(mProgrammed, gauge, b(vs.Programmed), vs.Service)
			ch <- prometheus.MustNewConstMetric(mQuorum, gauge, b(vs.QuorumUp), vs.Service)
			if c := vs.Counters; c != nil {
				ch <- prometheus.MustNewConstMetric(mSvcConns, counter, float64(c.Conns), vs.Service)
				ch <- prometheus.MustNewConstMetric(mSvcPktsIn, counter, float64(c.PacketsIn), vs.Service)
				ch <- prometheus.MustNewConstMetric(mSvcPktsOut, counter, float64(c.PacketsOut), vs.Service)
				ch <- prometheus.MustNewConstMetric(mSvcBytesIn, counter, float64(c.BytesIn), vs.Service)
				ch <- prometheus.MustNewConstMetric(mSvcBytesOut, counter, float64(c.BytesOut), vs.Service)
			}
			for _, rs := range vs.RealServers {
				be := rs.Address.String()
				ch <- prometheus.MustNewConstMetric(mRSUp, gauge, b(rs.Healthy), vs.Service, be)
				if rs.Checked {
					ch <- prometheus.MustNewConstMetric(mChecks, counter, float64(rs.Checks), vs.Service, be)
					ch <- prometheus.MustNewConstMetric(mCheckFailures, counter, float64(rs.CheckFailures), vs.Service, be)
					ch <- prometheus.MustNewConstMetric(mCheckDuration, gauge, rs.LastCheckDuration.Seconds(), vs.Service, be)
				}
				for _, c := range rs.CheckList {
					i := strconv.Itoa(c.Index)
					ch <- prometheus.MustNewConstMetric(mOneCheckUp, gauge, b(c.Up), vs.Service, be, i, c.Type)
					ch <- prometheus.MustNewConstMetric(mOneCheckFailures, counter, float64(c.Failures), vs.Service, be, i, c.Type)
				}
				if rs.InTable {
					ch <- prometheus.MustNewConstMetric(mRSWeight, gauge, float64(rs.Weight), vs.Service, be)
				}
				if rs.Counters != nil {
					ch <- prometheus.MustNewConstMetric(mRSActive, gauge, float64(rs.ActiveConns), vs.Service, be)
					ch <- prometheus.MustNewConstMetric(mRSInactive, gauge, float64(rs.InactiveConns), vs.Service, be)
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(mInfo, gauge, 1, s.Version)
}

func stateNumber(s string) int {
	switch s {
	case "BACKUP":
		return 1
	case "MASTER":
		return 2
	case "FAULT":
		return 3
	}
	return 0
}

// serveMetrics serves /metrics on the configured address until ctx ends.
func (d *Director) serveMetrics(ctx context.Context, addr string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := serveHTTP(ctx, l, mux); err != nil {
			d.log.Error("metrics", "err", err)
		}
	}()
	return nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
