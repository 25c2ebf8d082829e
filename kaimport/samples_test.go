package kaimport

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/config"
)

// sampleWarnings is, for every sample configuration shipped in Debian's
// keepalived 2.2.7 package (copied to testdata/samples; the /etc one is
// etc-keepalived.conf.sample), the exact list of what the importer reports
// as not translated: "LINE KEYWORD". Every sample imports to a configuration
// that passes config.Parse.
var sampleWarnings = map[string][]string{
	"etc-keepalived.conf.sample": {
		"4 notification_email",
		"9 notification_email_from",
		"10 smtp_server",
		"11 smtp_connect_timeout",
		"13 vrrp_skip_check_adv_addr",
		"14 vrrp_strict",
		"15 vrrp_garp_interval",
		"16 vrrp_gna_interval",
	},
	"keepalived.conf.HTTP_GET.port": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.IPv6": {},
	"keepalived.conf.PING_CHECK": {
		"5 notification_email",
		"8 notification_email_from",
		"9 smtp_server",
		"10 smtp_connect_timeout",
	},
	"keepalived.conf.SMTP_CHECK": {
		"16 notification_email",
		"19 notification_email_from",
		"20 smtp_server",
		"21 smtp_connect_timeout",
		"64 host",
		"68 host",
		"72 host",
		"95 host",
		"101 host",
		"107 host",
	},
	"keepalived.conf.SSL_GET": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
		"20 auth_type",
	},
	"keepalived.conf.UDP_CHECK": {
		"5 notification_email",
		"8 notification_email_from",
		"9 smtp_server",
		"10 smtp_connect_timeout",
	},
	"keepalived.conf.conditional_conf": {
		"3 net_namespace",
	},
	"keepalived.conf.fwmark": {},
	"keepalived.conf.inhibit": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.misc_check": {
		"5 notification_email",
		"8 notification_email_from",
		"9 smtp_server",
		"10 smtp_connect_timeout",
	},
	"keepalived.conf.misc_check_arg": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.quorum": {},
	"keepalived.conf.sample": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.status_code": {
		"5 notification_email",
		"8 notification_email_from",
		"9 smtp_server",
		"10 smtp_connect_timeout",
	},
	"keepalived.conf.track_interface": {
		"7 static_routes",
	},
	"keepalived.conf.virtual_server_group": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.virtualhost": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
	},
	"keepalived.conf.vrrp": {
		"4 notification_email",
		"7 notification_email_from",
		"8 smtp_server",
		"9 smtp_connect_timeout",
		"17 smtp_alert",
		"32 192.168.200.18",
		"38 smtp_alert",
		"52 smtp_alert",
		"69 smtp_alert",
	},
	"keepalived.conf.vrrp.localcheck": {
		"24 vrrp_script",
		"25 script",
		"30 vrrp_script",
		"31 script",
		"36 vrrp_script",
		"37 script",
		"58 chk_http_port",
		"59 chk_https_port",
		"60 chk_smtp_port",
		"79 chk_http_port",
		"80 chk_https_port",
		"81 chk_smtp_port",
	},
	"keepalived.conf.vrrp.lvs_syncd": {
		"3 vrrp_sync_group",
		"4 VI_2",
		"5 VI_3",
	},
	"keepalived.conf.vrrp.routes": {
		"7 static_routes",
		"30 or", // a multipath route: left out whole
	},
	"keepalived.conf.vrrp.rules": {
		"9 static_rules",
		"25 from", // no priority: the kernel would pick one before the main table's
		"26 to",   // "192.168.200./24" is no prefix
	},
	"keepalived.conf.vrrp.scripts": {
		"19 smtp_alert",
	},
	"keepalived.conf.vrrp.static_ipaddress": {
		"7 static_ipaddress",
	},
	"keepalived.conf.vrrp.sync": {},
}

func readSample(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return data
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	data, err = io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSamples(t *testing.T) {
	files, err := filepath.Glob("testdata/samples/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".gz")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			res, err := Import(name, readSample(t, file), Options{ConfigID: "high", LookPath: fakeLookPath})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(name, res.TOML); err != nil {
				t.Fatalf("output does not parse: %v\n%s", err, res.TOML)
			}
			var got []string
			for _, w := range res.Warnings {
				got = append(got, fmt.Sprintf("%d %s", w.Line, w.Keyword))
			}
			want, ok := sampleWarnings[name]
			if !ok {
				t.Fatalf("no entry in sampleWarnings; it reports %q", got)
			}
			if !slices.Equal(got, want) {
				t.Errorf("not translated:\n got %q\nwant %q", got, want)
				for _, w := range res.Warnings {
					t.Log(w)
				}
			}
		})
	}
	for name := range sampleWarnings {
		if !seen[name] {
			t.Errorf("sampleWarnings lists %s, which is not in testdata/samples", name)
		}
	}
}

// TestSamplesUpToDate compares testdata/samples with the installed keepalived
// package, when there is one, so that a newer package's samples are noticed.
func TestSamplesUpToDate(t *testing.T) {
	const dir = "/usr/share/doc/keepalived/samples"
	files, _ := filepath.Glob(filepath.Join(dir, "keepalived.conf.*"))
	if len(files) == 0 {
		t.Skipf("keepalived's samples are not installed in %s", dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".gz")
		copied, err := os.ReadFile(filepath.Join("testdata/samples", name))
		if err != nil {
			t.Errorf("%s is not in testdata/samples: copy it and add it to sampleWarnings", f)
			continue
		}
		if !bytes.Equal(readSample(t, f), copied) {
			t.Errorf("%s differs from the installed %s: copy it and review sampleWarnings", name, f)
		}
	}
}
