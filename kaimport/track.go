package kaimport

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hadirector/hadirector/config"
)

// trackFile is a track_file (or its older name vrrp_track_file) block: a file
// holding a number that moves the priority of the instances tracking it.
type trackFile struct {
	node      *node
	ctx       string
	name      string
	path      string
	weight    int // keepalived's default is 1
	weightSet bool
	reverse   bool
	comments  []string
	dropped   bool
	// An instance that tracks the file with a weight of its own gets a copy
	// with that weight, since hadirector's track_file has none.
	weightVariants
	refused []string // the tables config refused
}

// fileRef is one line of a track_file { } block of an instance or sync group:
// NAME [weight W [reverse|noreverse]].
type fileRef struct {
	node      *node
	refused   bool // by config
	ctx       string
	name      string
	weight    int
	weightSet bool
	reverse   bool // meaningful with revSet
	revSet    bool
	fromGroup string
}

// trackFileBlock translates "track_file NAME { file PATH; weight W [reverse];
// init_file [VALUE] [overwrite] }" as keepalived 2.2's track_file.c reads it.
func (t *translator) trackFileBlock(n *node) {
	name, ok := t.blockName(n, func(name string) *node {
		for _, f := range t.files {
			if f.name == name {
				return f.node
			}
		}
		return nil
	})
	if !ok {
		return
	}
	ctx := n.keyword() + " " + name
	f := &trackFile{node: n, ctx: ctx, name: name, weight: 1}
	t.files = append(t.files, f)
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		switch c.keyword() {
		case "file":
			switch p := c.arg(1); {
			case f.path != "":
				t.warn(c, ctx, "the file is already set to %s: keepalived ignores this one too", f.path)
			case p == "":
				t.warn(c, ctx, "no file name")
			case !filepath.IsAbs(p) || !validText(p):
				t.warn(c, ctx, "%q is not an absolute path (hadirector needs one)", p)
			default:
				t.extra(c, ctx, 1)
				f.path = p
			}
		case "weight":
			// keepalived takes a weight only while the weight is still its
			// default 1, and an invalid one leaves 1.
			if f.weight != 1 {
				t.warn(c, ctx, "the weight is already set to %d: keepalived ignores this one too", f.weight)
				continue
			}
			v, ok := t.signed(c, ctx, -254, 254)
			if !ok {
				continue
			}
			f.weight, f.weightSet = v, true
			switch c.arg(2) {
			case "":
			case "reverse":
				f.reverse = true
				if v == 0 {
					t.warnKeyword(c, ctx, "reverse", "weight 0 reverse (FAULT while the file holds 0) has no hadirector equivalent: the instances tracking the file with this weight lose that track")
				}
			default:
				t.warnKeyword(c, ctx, c.arg(2), "not reverse: keepalived ignores it too")
			}
		case "init_file":
			t.initFile(f, c)
		default:
			t.unsupported(c, ctx)
		}
	}
	if f.path == "" {
		f.dropped = true
		t.warn(n, ctx, "no usable file: left out (keepalived ignores it too), and the instances tracking it lose that track")
	}
}

// initFile translates init_file [VALUE] [overwrite]: keepalived writes VALUE
// (default 0) to the file at start-up if it is missing, or always with
// overwrite. hadirector never writes the file; a missing file counts as 0 in
// both, so only creating it with 0 keeps the same behaviour.
func (t *translator) initFile(f *trackFile, c *node) {
	value, overwrite := 0, false
	for _, w := range c.Words[1:] {
		switch {
		case w == "overwrite":
			overwrite = true
		case w != "" && (w[0] == '-' || w[0] >= '0' && w[0] <= '9'):
			v, err := strconv.ParseInt(w, 10, 32)
			if err != nil {
				t.warnKeyword(c, f.ctx, c.keyword(), "init value %q is not a number: keepalived writes 0", w)
				v = 0
			}
			value = int(v)
		default:
			t.warnKeyword(c, f.ctx, c.keyword(), "%q is not a value or overwrite: keepalived ignores it too", w)
		}
	}
	switch {
	case value == 0 && !overwrite:
		f.comments = append(f.comments, fmt.Sprintf("keepalived init_file (%s): it creates the file holding 0 when it is missing; hadirector reads a missing file as 0", source(c)))
	case overwrite:
		t.warn(c, f.ctx, "hadirector never writes the file: keepalived wrote %d to it at every start (create it with that value before hadirector starts, e.g. in the unit's ExecStartPre)", value)
	default:
		t.warn(c, f.ctx, "hadirector never writes the file: keepalived wrote %d to it at start-up when it was missing (a missing file counts as 0 here; create it before hadirector starts, e.g. with systemd-tmpfiles)", value)
	}
}

// trackFileRefs reads the lines of an instance's or sync group's track_file
// block as keepalived's vrrp_alloc_track_file does.
func (t *translator) trackFileRefs(n *node, ctx string) []fileRef {
	ctx = within(ctx, "track_file")
	var refs []fileRef
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		r := fileRef{node: c, ctx: ctx, name: c.keyword()}
		if len(c.Words) >= 2 {
			if c.Words[1] != "weight" {
				t.warn(c, ctx, "%q is not weight W: keepalived ignores the track too", c.Words[1])
				continue
			}
			if len(c.Words) == 2 {
				t.warn(c, ctx, "weight without a value: keepalived ignores the track too")
				continue
			}
			if v, ok := parseInt(c.Words[2], -254, 254); ok {
				r.weight, r.weightSet = v, true
			} else {
				t.warn(c, ctx, "weight %q is not a number in -254..254: keepalived uses the file's weight", c.Words[2])
			}
			if len(c.Words) >= 4 {
				switch c.Words[3] {
				case "reverse":
					r.reverse, r.revSet = true, true
				case "noreverse":
					r.reverse, r.revSet = false, true
				default:
					t.warn(c, ctx, "%q is not reverse or noreverse: keepalived ignores the track too", c.Words[3])
					continue
				}
			}
			if len(c.Words) > 4 {
				t.warnKeyword(c, ctx, c.Words[4], "extra words ignored (keepalived ignores them too)")
			}
		}
		refs = append(refs, r)
	}
	return refs
}

// trackFiles settles an instance's tracked files as keepalived's
// vrrp_complete_instance and sync_group_tracking_init do: in a sync group
// without sync_group_tracking_weight, and for an address owner, a track with
// the default weight 1 becomes weight 0 (non-zero means FAULT) and any other
// weighted track is dropped; a sync group's tracks apply to every member
// (weight 0 when a member is an address owner), and replace the weight of the
// same file tracked by the member itself unless that one is unweighted.
func (t *translator) trackFiles(in *instance, files map[string]*trackFile, groupOwner bool) {
	zero := in.group != nil && !in.group.trackingWeight
	owner := in.priority == 255
	type eff struct {
		ref    fileRef
		file   *trackFile
		weight int
		rev    bool
	}
	var list []*eff
	byName := map[string]*eff{}
	add := func(r fileRef) {
		f := files[r.name]
		if f == nil {
			t.warn(r.node, r.ctx, "no track_file %s was translated", r.name)
			return
		}
		w, rev := f.weight, f.reverse
		if r.weightSet {
			w = r.weight
		}
		if r.revSet {
			rev = r.reverse
		}
		if r.fromGroup == "" {
			if byName[r.name] != nil {
				t.warn(r.node, r.ctx, "file %s is already tracked: keepalived ignores this one too", r.name)
				return
			}
			if zero || owner {
				why := "an address owner (priority 255)"
				if zero {
					why = fmt.Sprintf("a member of sync group %s without sync_group_tracking_weight", in.group.name)
				}
				switch {
				case w == 1:
					in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("keepalived tracks %s with weight 0 (a non-zero number means FAULT) in %s", r.name, why))
					w = 0
				case w != 0:
					in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("keepalived ignores the track file %s with weight %d in %s: left out", r.name, w, why))
					return
				}
			}
			e := &eff{ref: r, file: f, weight: w, rev: rev}
			byName[r.name] = e
			list = append(list, e)
			return
		}
		if groupOwner && w != 0 {
			in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("keepalived tracks %s of sync group %s with weight 0: a member is an address owner", r.name, r.fromGroup))
			w = 0
		}
		if e := byName[r.name]; e != nil {
			if e.weight != 0 {
				in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("%s is tracked by the instance and by sync group %s: keepalived takes the group's weight %d", r.name, r.fromGroup, w))
				e.weight, e.rev = w, rev
			}
			return
		}
		e := &eff{ref: r, file: f, weight: w, rev: rev}
		byName[r.name] = e
		list = append(list, e)
	}
	for _, r := range in.trackFileRefs {
		add(r)
	}
	if in.group != nil {
		for _, r := range in.group.trackFileRefs {
			r.fromGroup = in.group.name
			add(r)
		}
	}
	var names []string
	var kept []fileRef
	for _, e := range list {
		w := e.weight
		if e.rev {
			if w == 0 {
				// keepalived: with weight 0 reverse, 0 in the file means FAULT.
				t.warn(e.ref.node, e.ref.ctx, "weight 0 reverse (FAULT while the file holds 0) has no hadirector equivalent: the track is left out")
				continue
			}
			w = -w
		}
		f := e.file
		name := f.variant(f.name, w, t.fileNames())
		switch {
		case name != f.name:
			in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("%s is track_file %s with weight %d (hadirector's track_file has no weight of its own)", name, f.name, w))
		case w != f.effectiveWeight():
			in.comment(instanceKey(&instanceT.TrackFile), fmt.Sprintf("%s is tracked with weight %d (hadirector's track_file has no weight of its own)", name, w))
		}
		names = append(names, name)
		kept = append(kept, e.ref)
	}
	in.trackFileNames, in.trackFileKept = names, kept
}

// effectiveWeight is the file's own weight with reverse applied: keepalived
// multiplies the number by -1 for reverse.
func (f *trackFile) effectiveWeight() int {
	if f.reverse {
		return -f.weight
	}
	return f.weight
}

// fileNames is every [[vrrp_track_file]] name in use so far.
func (t *translator) fileNames() map[string]bool {
	taken := map[string]bool{}
	for _, f := range t.files {
		taken[f.name] = true
		for _, n := range f.variants {
			taken[n] = true
		}
	}
	return taken
}

// tables writes the file once per weight the instances track it with (once
// with its own weight when no instance tracks it).
func (f *trackFile) tables() []*table {
	one := func(name string, weight int, comment string) *table {
		tb := &table{header: "[[vrrp_track_file]]", source: source(f.node)}
		if comment != "" {
			tb.comments = append(tb.comments, comment)
		}
		tb.comments = append(tb.comments, f.comments...)
		set := func(field any, value string, comments ...string) {
			tb.set(config.Key(&trackFileT, field), value, comments...)
		}
		set(&trackFileT.Name, tomlString(name))
		set(&trackFileT.File, tomlString(f.path))
		var wc []string
		if f.reverse && weight == f.effectiveWeight() {
			wc = append(wc, fmt.Sprintf("keepalived: weight %d reverse (the number is multiplied by -1)", f.weight))
		}
		set(&trackFileT.Weight, tomlInt(weight), wc...)
		return tb
	}
	var out []*table
	for _, v := range f.tableList() {
		comment := ""
		switch {
		case slices.Contains(f.refused, v.name):
			continue
		case v.name != f.name:
			comment = fmt.Sprintf("%s %s with weight %d, for the instances that track it with that weight", f.node.keyword(), f.name, v.weight)
		case v.weight != f.effectiveWeight():
			comment = fmt.Sprintf("weight %d (keepalived: %d): the weight the instances track it with", v.weight, f.effectiveWeight())
		}
		out = append(out, one(v.name, v.weight, comment))
	}
	return out
}

// tableList is the file's tables; none for weight 0 reverse when no instance tracks
// it, which has no equivalent (reported where it is tracked).
func (f *trackFile) tableList() []variant {
	if len(f.order) == 0 && f.reverse && f.weight == 0 {
		return nil
	}
	return f.list(f.name, f.effectiveWeight())
}
