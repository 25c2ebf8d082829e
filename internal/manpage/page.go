package manpage

import (
	"strings"
)

// ConfigPage is hadirector.toml(5): every table and key of the schema (see Schema), with its
// type, its default, and its description and keepalived keyword from the reference schema
// ref.
func ConfigPage(ref []byte) (string, error) {
	tables, err := Schema(ref)
	if err != nil {
		return "", err
	}
	p := New("hadirector.toml", 5, "hadirector", "File Formats")
	p.Section("name")
	p.Para(`hadirector.toml \- configuration file of the hadirector VRRP and LVS director`)
	p.Section("synopsis")
	p.Para(B("/etc/hadirector/hadirector.toml"))
	p.Section("description")
	p.Para("The file is TOML. Decoding is strict: a key this page does not list is an error, reported with the file, the line and the key, and " +
		B("hadirector check") + " reports every problem at once. Durations are strings such as " + T(`"1s"`) + " or " + T(`"100ms"`) +
		". Addresses are IPv4 or IPv6 literals; TEST\\-NET addresses are used in the examples.")
	p.Para("Key names follow keepalived's keywords (in snake_case), so that its users find them. Where a key's keepalived keyword differs, " +
		"the description names it (\"global_defs router_id\", \"vrrp_rt_priority\", \"lb_algo\"); " +
		B("hadirector import") + " translates a keepalived.conf into this format and lists what it could not translate.")
	p.Para("The daemon re\\-reads the file on SIGHUP; a file with any problem is not applied, and the running configuration stays as it was.")
	p.Section("tables")
	for _, t := range tables {
		header := "[" + t.Path + "]"
		if t.Array {
			header = "[" + header + "]"
		}
		p.Subsection(B(header))
		if note := strings.TrimSpace(t.Note); note != "" {
			p.Para(sentence(note))
		}
		for _, k := range t.Keys {
			var body []string
			switch {
			case k.Required:
				body = append(body, "Required.")
			case k.Default != "":
				body = append(body, "Default: "+B(k.Default)+".")
			}
			if k.Example != "" {
				body = append(body, "Example: "+B(k.Example)+".")
			}
			if k.Doc != "" {
				body = append(body, sentence(k.Doc))
			}
			p.Item(B(k.Name)+" ("+I(k.Type)+")", strings.Join(body, " "))
		}
	}
	p.Section("files")
	p.Item(B("/etc/hadirector/hadirector.toml"), "The configuration file (a conffile of the Debian package).")
	p.Item(B("/usr/share/doc/hadirector/examples/"), "The two directors of a DR pair, and a notify script.")
	p.Section("see also")
	p.Para(B("hadirector") + "(8), " + B("keepalived.conf") + "(5), " + B("ipvsadm") + "(8)")
	return p.String(), nil
}

// sentence is a reference comment as text: escaped, first letter kept, one trailing period.
func sentence(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
	// "example;" or "example:" says what Example: already says.
	if rest, ok := strings.CutPrefix(s, "example"); ok && (rest == "" || rest[0] == ';' || rest[0] == ':') {
		s = strings.TrimLeft(rest, ";: ")
	}
	if s == "" {
		return ""
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return T(s)
}
