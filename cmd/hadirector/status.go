package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/director"
)

func cmdStatus(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	path := fs.String("c", defaultConfig, socketFlagHelp)
	socketFlag := fs.String("socket", "", "status socket (default: the configuration's status_socket)")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	socket, err := statusSocket(fs, *path, *socketFlag)
	if err != nil {
		return err
	}
	body, err := getStatus(socket)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var s director.Status
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("status socket %s: %w", socket, err)
	}
	printStatus(stdout, &s)
	return nil
}

const socketFlagHelp = "configuration file (for status_socket; when the default file is missing, the default socket " +
	config.DefaultStatusSocket + ")"

// statusSocket is the socket the status, drain and undrain commands talk to: -socket;
// else the status_socket of the file -c names; else, with no -c and no file at the
// default path, the default socket — the daemon may run with a file elsewhere, and the
// default status_socket is what it most likely listens on. A file that -c names must
// exist.
func statusSocket(fs *flag.FlagSet, path, socket string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "c" })
	if !explicit {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return defaultSocket, nil
		}
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return "", err
	}
	if cfg.Global.StatusSocket == "" {
		return "", usageErr("%s sets no status_socket", path)
	}
	return cfg.Global.StatusSocket, nil
}

func socketClient(socket string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
}

// cmdDrain: hadirector drain|undrain VIP:PORT RIP:PORT — weight 0 at run time through the
// status socket; kept across reloads until undrained. Without addresses: the whole
// director leaves its BGP routers gracefully (and undrain brings it back).
func cmdDrain(verb string) func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	return func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
		path := fs.String("c", defaultConfig, socketFlagHelp)
		socketFlag := fs.String("socket", "", "status socket (default: the configuration's status_socket)")
		// Flags may come before, between or after the two addresses.
		var pos []string
		for rest := args; ; {
			if err := fs.Parse(rest); err != nil {
				return &exitError{2, err}
			}
			if fs.NArg() == 0 {
				break
			}
			pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
		}
		if len(pos) != 2 && len(pos) != 0 {
			return usageErr("usage: hadirector %s [-socket PATH] [VIP:PORT RIP:PORT]", verb)
		}
		socket, err := statusSocket(fs, *path, *socketFlag)
		if err != nil {
			return err
		}
		q := url.Values{} // none: the whole director's BGP announcements
		if len(pos) == 2 {
			q = url.Values{"vs": {pos[0]}, "rs": {pos[1]}}
		}
		resp, err := socketClient(socket).Post("http://hadirector/"+verb+"?"+q.Encode(), "text/plain", nil)
		if err != nil {
			return fmt.Errorf("status socket %s: %w (is hadirector running?)", socket, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: status socket %s: %s", verb, socket, strings.TrimSpace(string(body)))
		}
		_, err = stdout.Write(body)
		return err
	}
}

func getStatus(socket string) ([]byte, error) {
	resp, err := socketClient(socket).Get("http://hadirector/status")
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w (is hadirector running?)", socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status socket %s: %s: %s", socket, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func printStatus(w io.Writer, s *director.Status) {
	fmt.Fprintf(w, "hadirector %s on %s: mode %s, up %s, %d reload(s), config %s\n\n", s.Version, s.RouterID,
		s.Mode, s.Now.Sub(s.Started).Round(time.Second), s.Reloads, s.Config)
	if s.Mode == config.ModeStandalone {
		fmt.Fprintf(w, "standalone director: %s\n", s.Mode.Describe())
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(s.Instances) > 0 {
		fmt.Fprintln(tw, "INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIORITY\tEFFECTIVE\tMASTER SEEN\tIN STATE\tTRANSITIONS\tVIPS")
	}
	for _, in := range s.Instances {
		master := "-"
		if in.Master.IsValid() {
			master = fmt.Sprintf("%s (%d)", in.Master, in.MasterPriority)
		}
		vips := make([]string, len(in.VIPs))
		for i, p := range in.VIPs {
			vips[i] = p.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%d\t%s\n", in.Name, in.Interface, in.VRID, in.State,
			in.Priority, in.EffectivePriority, master, s.Now.Sub(in.Since).Round(time.Second), in.Transitions, strings.Join(vips, " "))
	}
	tw.Flush()
	if len(s.Groups) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SYNC GROUP\tSTATE\tMEMBERS")
		for _, g := range s.Groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, g.State, strings.Join(g.Members, " "))
		}
		tw.Flush()
	}
	if s.LVS != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "IPVS: %d ops, %d errors", s.LVS.Ops, s.LVS.Errors)
		if s.LVS.LastError != "" {
			fmt.Fprintf(w, ", last error: %s", s.LVS.LastError)
		}
		fmt.Fprintln(w)
		if sd := s.LVS.SyncDaemon; sd != nil {
			printSyncDaemon(w, s.Now, sd)
		}
		for _, sc := range s.LVS.Sysctls {
			fmt.Fprintf(w, "sysctl %s = %s (%s)\n", sc.Name, sc.Value, sc.Reason)
		}
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIRTUAL SERVER\tSCHED\tPROGRAMMED\tREAL SERVER\tHEALTH\tWEIGHT\tACTIVE\tINACTIVE\tCONNS\tBYTES IN")
		for _, vs := range s.LVS.Services {
			prog := "no (backup)"
			if vs.Programmed {
				prog = "yes"
			}
			if vs.Sorry {
				prog += ", sorry server"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\t", vs.Service, vs.Scheduler, prog)
			if vs.Counters != nil {
				fmt.Fprintf(tw, "%d\t%d", vs.Counters.Conns, vs.Counters.BytesIn)
			} else {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprintln(tw)
			for _, rs := range vs.RealServers {
				health := "up"
				switch {
				case !rs.Checked:
					health = "up (no check)"
				case !rs.Healthy:
					health = "DOWN"
					if rs.LastError != "" {
						health += ": " + rs.LastError
					}
				}
				weight := "-"
				if rs.InTable {
					weight = fmt.Sprint(rs.Weight)
				}
				if rs.Drained {
					weight += " (drained)"
				}
				var conns, bytes uint64
				if rs.Counters != nil {
					conns, bytes = rs.Counters.Conns, rs.Counters.BytesIn
				}
				fmt.Fprintf(tw, "\t\t\t-> %s\t%s\t%s\t%d\t%d\t%d\t%d\n", rs.Address, health, weight, rs.ActiveConns, rs.InactiveConns, conns, bytes)
			}
		}
		tw.Flush()
	}
	if s.BGP != nil {
		printBGP(w, s.Now, s.BGP)
	}
	fmt.Fprintln(w)
	var drops []string
	for r, n := range s.Drops {
		drops = append(drops, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(drops)
	if len(drops) == 0 {
		drops = []string{"none"}
	}
	fmt.Fprintf(w, "adverts dropped: %s\n", strings.Join(drops, " "))
	fmt.Fprintf(w, "hooks: ran %d, failed %d, timed out %d, dropped %d\n", s.Notify.Ran, s.Notify.Failed, s.Notify.TimedOut, s.Notify.Dropped)
}

// printSyncDaemon is the connection-sync line: the role this node runs, since when, what
// the kernel runs, and the errors.
func printSyncDaemon(w io.Writer, now time.Time, sd *director.SyncDaemonStatus) {
	fmt.Fprintf(w, "connection sync for %s: role %s", sd.Instance, sd.Role)
	if !sd.Since.IsZero() {
		fmt.Fprintf(w, " for %s", now.Sub(sd.Since).Round(time.Second))
	}
	running := make([]string, len(sd.Running))
	for i, d := range sd.Running {
		running[i] = fmt.Sprintf("%s on %s (sync_id %d)", d.Role, d.Interface, d.SyncID)
	}
	if len(running) == 0 {
		running = []string{"nothing"}
	}
	fmt.Fprintf(w, "; the kernel runs %s; %d switch(es), %d error(s)", strings.Join(running, ", "), sd.Switches, sd.Errors)
	if sd.LastError != "" {
		fmt.Fprintf(w, ", last error: %s", sd.LastError)
	}
	fmt.Fprintln(w)
}

// printBGP shows the BGP peers and each VIP, announced or why not.
func printBGP(w io.Writer, now time.Time, b *director.BGPStatus) {
	fmt.Fprintln(w)
	drained := ""
	if b.Drained {
		drained = ", drained"
	}
	fmt.Fprintf(w, "BGP: AS %d, router id %s%s; %d announcement(s), %d withdrawal(s)\n", b.ASN, b.RouterID, drained,
		b.Counters.Announcements, b.Counters.Withdrawals)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER	AS	STATE	IN STATE	FLAPS	LAST ERROR")
	for _, p := range b.Peers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", p.Address, p.ASN, p.State, now.Sub(p.Since).Round(time.Second), p.Flaps, p.LastError)
	}
	fmt.Fprintln(tw, "VIP\tMODE\tANNOUNCED\tIN STATE\tREASON\t")
	for _, v := range b.VIPs {
		ann := "no"
		if v.Announced {
			ann = "yes"
		}
		reason := v.Reason
		if v.LastError != "" {
			reason += " (error: " + v.LastError + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", v.Prefix, v.Mode, ann, now.Sub(v.Since).Round(time.Second), reason)
	}
	tw.Flush()
}
