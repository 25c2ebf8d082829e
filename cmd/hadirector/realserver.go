package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/hadirector/hadirector/realserver"
)

func cmdRealserver(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	vipList := fs.String("vip", "", "virtual IP address(es), comma-separated (down: default all that up added)")
	state := fs.String("state", "/run/hadirector/realserver.json", "records what up changed, so down restores it")
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return parseFlags(fs, args[:1]) // prints the flags, returns flag.ErrHelp
		}
		return usageErr("usage: hadirector realserver up|down --vip ADDR[,ADDR...] [-state FILE]")
	}
	verb := args[0]
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	var vips []netip.Addr
	for _, s := range strings.Split(*vipList, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErr("--vip %q: %v", s, err)
		}
		vips = append(vips, a)
	}
	if verb == "up" && len(vips) == 0 {
		return usageErr("realserver up needs --vip")
	}
	do := realserver.Up
	if verb == "down" {
		do = realserver.Down
	}
	changes, err := do(*state, vips)
	for _, c := range changes {
		fmt.Fprintln(stdout, c)
	}
	if err == nil && len(changes) == 0 {
		fmt.Fprintln(stdout, "nothing to change")
	}
	return err
}
