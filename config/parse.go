package config

import (
	"fmt"
	"reflect"
	"slices"
)

// Parse parses and validates a configuration file's contents; name is the
// file name used in problems. The error, if any, is an *Errors listing every
// problem found.
func Parse(name string, data []byte) (cfg *Config, err error) {
	// A reload must never take the running director down: should a bug in
	// this package panic on some input, report it like any other problem.
	defer func() {
		if p := recover(); p != nil {
			cfg = nil
			err = &Errors{Problems: []Problem{{File: name, Msg: fmt.Sprintf("internal error, please report it with this file: %v", p)}}}
		}
	}()
	return parse(name, data)
}

// parse is Parse without the recover, so that the fuzz test sees panics.
func parse(name string, data []byte) (*Config, error) {
	r := &report{file: name, lines: indexLines(data)}
	cfg := new(Config)
	cfg.setDefaults()
	seen, ok := decode(data, cfg, r)
	if !ok {
		return nil, r.err()
	}
	resolve(cfg, seen)
	labelElements(cfg, r)
	validate(cfg, r, seen)
	if err := r.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// resolve fills the values that default to another part of the file.
func resolve(cfg *Config, seen map[string]bool) {
	if cfg.Global.RouterID == "" {
		cfg.Global.RouterID = hostname()
	}
	for i := range cfg.Instances {
		in := &cfg.Instances[i]
		p := index("vrrp_instance", i)
		if !seen[join(p, "garp_master_delay")] {
			in.GARPMasterDelay = cfg.Global.GARPMasterDelay
		}
		if !seen[join(p, "garp_master_repeat")] {
			in.GARPMasterRepeat = cfg.Global.GARPMasterRepeat
		}
		if !seen[join(p, "garp_master_refresh")] {
			in.GARPMasterRefresh = cfg.Global.GARPMasterRefresh
		}
	}
	if sd := cfg.LVS.SyncDaemon; sd != nil {
		if !seen["lvs.sync_daemon.instance"] && len(cfg.Instances) == 1 {
			sd.Instance = cfg.Instances[0].Name
		}
		if !seen["lvs.sync_daemon.sync_id"] {
			for _, in := range cfg.Instances {
				if in.Name == sd.Instance && sd.Instance != "" {
					sd.SyncID = in.VirtualRouterID
				}
			}
		}
		if !seen["lvs.on_backup"] {
			cfg.LVS.OnBackup = "keep"
		}
	}
	checkFields := schemaFields(reflect.TypeFor[Check]())
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if rs.Forwarding == "" {
				rs.Forwarding = vs.Forwarding
			}
			if vs.Check == nil {
				continue
			}
			if rs.Check == nil {
				c := *vs.Check
				rs.Check = &c
			} else {
				cp := join(index(join(index("virtual_server", i), "real_server"), j), "check")
				dst, src := reflect.ValueOf(rs.Check).Elem(), reflect.ValueOf(vs.Check).Elem()
				for _, f := range checkFields {
					if !seen[join(cp, f.name)] {
						dst.Field(f.index).Set(src.Field(f.index))
					}
				}
				if rs.Check.Type == "" { // like an absent key: there is no empty type
					rs.Check.Type = vs.Check.Type
				}
			}
			rs.Check.ExpectStatus = slices.Clone(rs.Check.ExpectStatus)
			rs.Check.URLs = cloneURLs(rs.Check.URLs)
		}
	}
}

// cloneURLs copies urls deeply, so that real servers that inherit a check share nothing.
func cloneURLs(urls []URL) []URL {
	out := slices.Clone(urls)
	for i := range out {
		out[i].ExpectStatus = slices.Clone(out[i].ExpectStatus)
	}
	return out
}

// labelElements names array elements in problems by what operators call them
// (`vrrp_instance "VI_1"`) instead of their position.
func labelElements(cfg *Config, r *report) {
	for i, s := range cfg.Scripts {
		r.label(index("vrrp_script", i), s.Name)
	}
	for i, in := range cfg.Instances {
		p := index("vrrp_instance", i)
		r.label(p, in.Name)
		for j, t := range in.TrackInterface {
			r.label(index(join(p, "track_interface"), j), t.Name)
		}
	}
	for i, g := range cfg.SyncGroups {
		r.label(index("vrrp_sync_group", i), g.Name)
	}
	for i, vs := range cfg.VirtualServers {
		p := index("virtual_server", i)
		if vs.Address.IsValid() || vs.FWMark != 0 {
			r.label(p, vs.String())
		}
		for j, rs := range vs.RealServers {
			if rs.Address.IsValid() {
				r.label(index(join(p, "real_server"), j), rs.Address.String())
			}
		}
	}
}
