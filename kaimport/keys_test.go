package kaimport

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// rareKeys makes the importer write the keys the golden files and samples do not.
const rareKeys = `global_defs {
 vrrp_garp_master_refresh 60
 vrrp_rt_priority 10
 vrrp_no_swap
 lvs_timeouts tcp 900 tcpfin 120 udp 300
 lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.82
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 version 3
 use_vmac vrrp.51
 unicast_src_ip 192.0.2.10
 unicast_peer {
  192.0.2.11
 }
 old_unicast_checksum
 preempt_delay 10
 garp_master_delay 2
 garp_master_repeat 3
 garp_master_refresh 30
 virtual_ipaddress {
  192.0.2.1/24 label eth0:v
 }
}
virtual_server 192.0.2.1 53 {
 protocol UDP
 lb_algo sh
 sh-port
 ops
 persistence_timeout 60
 persistence_granularity 255.255.255.0
 sorry_server 192.0.2.250 53
 inhibit_on_failure
 quorum 2
 hysteresis 1
 real_server 198.51.100.1 53 {
  weight 3
  lb_kind TUN
  uthreshold 100
  lthreshold 10
  notify_up /bin/up
  SSL_GET {
   url {
    path /
    regex ok
   }
   virtualhost www.example.com
   enable_sni
   connect_port 8443
   bindto 192.0.2.5
  }
 }
 real_server 198.51.100.2 53 {
 }
}
`

// Every key the importer writes is a key of the schema, as config/testdata/reference.toml
// lists it: keys come from config's struct tags, and this checks the tags against the
// reference over the golden files, the samples and rareKeys.
func TestRenderedKeysInReference(t *testing.T) {
	const refFile = "../config/testdata/reference.toml"
	text, err := os.ReadFile(refFile)
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]any
	md, err := toml.Decode(string(text), &ref)
	if err != nil {
		t.Fatal(err)
	}
	schema := map[string]bool{}
	for _, k := range md.Keys() {
		schema[k.String()] = true
	}
	// The reference shows a few keys in comments only: fwmark (the alternative to
	// address), the elements of track_interface and an instance's GARP overrides. And
	// it lists the keys of a check once, under the real server.
	for _, k := range []string{"virtual_server.fwmark", "vrrp_instance.track_interface.name", "vrrp_instance.track_interface.weight",
		"vrrp_instance.garp_master_delay", "vrrp_instance.garp_master_repeat", "vrrp_instance.garp_master_refresh"} {
		if last := k[strings.LastIndex(k, ".")+1:]; !strings.Contains(string(text), "# "+last) && !strings.Contains(string(text), last+" = ") {
			t.Fatalf("%s does not show %s", refFile, k)
		}
		schema[k] = true
	}
	// A check's keys are the same in each of its three places; the reference writes each
	// key in one of them.
	for k := range schema {
		for _, p := range []string{"virtual_server.real_server.check.", "virtual_server.real_server.checks."} {
			if rest, ok := strings.CutPrefix(k, p); ok {
				for _, q := range []string{"virtual_server.check.", "virtual_server.real_server.check.", "virtual_server.real_server.checks."} {
					schema[q+rest] = true
				}
			}
		}
	}

	results := map[string]*Result{}
	res, err := Import("rareKeys", []byte(rareKeys), goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	results["rareKeys"] = res
	files, _ := filepath.Glob("testdata/*.conf")
	for _, f := range files {
		if results[f], err = ImportFile(f, goldenOptions()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	files, _ = filepath.Glob("testdata/samples/*")
	for _, f := range files {
		if results[f], err = Import(f, readSample(t, f), goldenOptions()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	written := map[string]bool{}
	for name, res := range results {
		var out map[string]any
		md, err := toml.Decode(string(res.TOML), &out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, k := range md.Keys() {
			written[k.String()] = true
			if !schema[k.String()] {
				t.Errorf("%s writes %s, which is not in reference.toml", name, k)
			}
		}
	}
	// rareKeys did its job: these are written.
	for _, k := range []string{"global.garp_master_refresh", "lvs.timeout_tcpfin", "lvs.sync_daemon.group", "vrrp_instance.vmac_name",
		"vrrp_instance.old_unicast_checksum", "vrrp_instance.garp_master_repeat", "virtual_server.scheduler_flags", "virtual_server.one_packet",
		"virtual_server.persistence_netmask", "virtual_server.sorry_server", "virtual_server.hysteresis", "virtual_server.real_server.lower_threshold",
		"virtual_server.real_server.check.sni", "virtual_server.real_server.check.bind_to", "virtual_server.real_server.check.expect_body"} {
		if !written[k] {
			t.Errorf("no input writes %s", k)
		}
	}
	if testing.Verbose() {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range written {
				if !yield(k) {
					return
				}
			}
		})
		t.Logf("written: %s", strings.Join(keys, " "))
	}
}
