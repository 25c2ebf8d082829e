package lvs

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The transport against the one generic-netlink family every Linux kernel has,
// nlctrl (no IPVS, no privileges needed): results land on the request they answer,
// across batches, past the replies nlctrl sends to successful requests and past
// answers left over from an earlier request.

func ctrlConn(t *testing.T) *nlConn {
	t.Helper()
	c, err := dialNL("", unix.GENL_ID_CTRL)
	if err != nil {
		t.Fatalf("generic netlink: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

// familyName is the attribute of a GETFAMILY request for the family name.
func familyName(t *testing.T, name string) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, name)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNLBatchMatchesACKs(t *testing.T) {
	c := ctrlConn(t)
	var msgs []netlink.Message
	var want []error
	// Three sendmsgs' worth; request 255, the last of the first batch, is one
	// that fails.
	for i := range 600 {
		if i%7 == 3 {
			msgs = append(msgs, c.message(unix.CTRL_CMD_GETFAMILY, 0, familyName(t, fmt.Sprintf("nofamily%d", i))))
			want = append(want, unix.ENOENT)
		} else {
			msgs = append(msgs, c.message(unix.CTRL_CMD_GETFAMILY, 0, familyName(t, "nlctrl")))
			want = append(want, nil)
		}
	}
	for start := 0; start < len(msgs); start += batchOps {
		end := min(start+batchOps, len(msgs))
		for i, err := range c.batch(msgs[start:end]) {
			if w := want[start+i]; err != w {
				t.Fatalf("request %d: %v, want %v", start+i, err, w)
			}
		}
	}
}

// apply sends IPVS requests; nlctrl has no commands 1 and 5 (NEW_SERVICE and
// NEW_DEST there), so each sent op comes back EOPNOTSUPP, and the one that cannot
// be encoded keeps its own error at its own index without a request.
func TestNLApplyResultsInOrder(t *testing.T) {
	c := ctrlConn(t)
	svc := Service{Key: vip80}
	var ops []Op
	for i := range 300 {
		ops = append(ops, Op{Kind: AddService, Service: svc}, Op{Kind: AddDest, Service: svc, Dest: Destination{Addr: rs11, Weight: i}})
	}
	ops[5].Dest.Weight = 70000
	for i, err := range c.apply(ops) {
		var errno syscall.Errno
		switch {
		case i == 5 && (err == nil || errors.As(err, &errno)):
			t.Fatalf("op 5 (weight 70000): %v, want an encoding error", err)
		case i != 5 && !errors.Is(err, unix.EOPNOTSUPP):
			t.Fatalf("op %d: %v, want EOPNOTSUPP", i, err)
		}
	}
}

func TestNLExchange(t *testing.T) {
	c := ctrlConn(t)
	name := func(msg []byte) string {
		ad, err := netlink.NewAttributeDecoder(msg)
		if err != nil {
			t.Fatal(err)
		}
		for ad.Next() {
			if ad.Type() == unix.CTRL_ATTR_FAMILY_NAME {
				return ad.String()
			}
		}
		return ""
	}
	request := func(flags netlink.HeaderFlags, family string) ([]string, error) {
		var names []string
		err := c.exchange(unix.CTRL_CMD_GETFAMILY, flags, familyName(t, family), func(msg []byte) error {
			names = append(names, name(msg))
			return nil
		})
		return names, err
	}
	// A reply asked for with an ACK as well ends the exchange at the reply; the
	// ACK, still queued, must not be taken for the next request's answer.
	if got, err := request(netlink.Acknowledge, "nlctrl"); err != nil || len(got) != 1 || got[0] != "nlctrl" {
		t.Fatalf("request: %q %v", got, err)
	}
	if got, err := request(0, "nlctrl"); err != nil || len(got) != 1 || got[0] != "nlctrl" {
		t.Fatalf("request after a left-over ACK: %q %v", got, err)
	}
	if got, err := request(0, "no-such-family"); !errors.Is(err, unix.ENOENT) || len(got) != 0 {
		t.Fatalf("unknown family: %q %v, want ENOENT", got, err)
	}
	// A dump: the same names as genetlink's own list.
	var names []string
	err := c.exchange(unix.CTRL_CMD_GETFAMILY, netlink.Dump, nil, func(msg []byte) error {
		names = append(names, name(msg))
		return nil
	})
	gc, gerr := genetlink.Dial(nil)
	if gerr != nil {
		t.Fatal(gerr)
	}
	defer gc.Close()
	fams, gerr := gc.ListFamilies()
	if gerr != nil {
		t.Fatal(gerr)
	}
	var want []string
	for _, f := range fams {
		want = append(want, f.Name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if err != nil || !slices.Contains(names, "nlctrl") || !slices.Equal(names, want) {
		t.Fatalf("dump: %q %v, want %q", names, err, want)
	}
}

// The socket reuses its buffer for each datagram, so every message of a dump must
// be read before the next datagram comes. The policy dump of ethtool spans several
// (the first is a page at most); it must arrive as genetlink reads it on a socket
// of its own.
func TestNLDumpAcrossDatagrams(t *testing.T) {
	c := ctrlConn(t)
	req := familyName(t, "ethtool")
	var got [][]byte
	err := c.exchange(unix.CTRL_CMD_GETPOLICY, netlink.Dump, req, func(msg []byte) error {
		got = append(got, bytes.Clone(msg))
		return nil
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("this kernel has no ethtool family or no policy dumps: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	gc, err := genetlink.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	msgs, err := gc.Execute(genetlink.Message{Header: genetlink.Header{Command: unix.CTRL_CMD_GETPOLICY, Version: ipvsGenlVersion}, Data: req},
		unix.GENL_ID_CTRL, netlink.Request|netlink.Dump)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	// The kernel fills a dump's first datagram in the request's sendmsg, before
	// any read has shown a larger buffer: at most a page (NLMSG_GOODSIZE).
	if size <= 4<<10 {
		t.Fatalf("policy dump of %d bytes: too small to span datagrams", size)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, genetlink read %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		if !bytes.Equal(got[i], m.Data) {
			t.Fatalf("message %d: % x, genetlink read % x", i, got[i], m.Data)
		}
	}
}
