// Package manpage writes manual pages in man(7) roff: a small writer that escapes text, and
// hadirector.toml(5), generated from the configuration types and the reference schema so the
// page lists every key the decoder accepts. hadirector(8) is written by the command's own test
// from its command table (cmd/hadirector).
package manpage

import (
	"fmt"
	"strings"
)

// Page is a manual page being written. Text given to its methods is roff: build it from
// T (plain text), B (bold) and I (italic), which escape what roff would interpret.
type Page struct{ b strings.Builder }

// New starts a page: name and section for .TH, and the footer's source ("hadirector").
// There is no date, so that the page only changes when what it documents does.
func New(name string, section int, source, manual string) *Page {
	p := &Page{}
	fmt.Fprintf(&p.b, ".TH %s %d \"\" %s %s\n", strings.ToUpper(name), section, quote(source), quote(manual))
	return p
}

func quote(s string) string { return `"` + strings.ReplaceAll(T(s), `"`, `\(dq`) + `"` }

// Section starts a .SH section.
func (p *Page) Section(name string) { fmt.Fprintf(&p.b, ".SH %s\n", quote(strings.ToUpper(name))) }

// Subsection starts a .SS subsection.
func (p *Page) Subsection(roff string) { fmt.Fprintf(&p.b, ".SS %s\n", roff) }

// Para is a paragraph.
func (p *Page) Para(roff string) { fmt.Fprintf(&p.b, ".PP\n%s\n", line(roff)) }

// Item is a tagged paragraph (.TP): the tag on its own line, the text indented below it.
func (p *Page) Item(tag, roff string) { fmt.Fprintf(&p.b, ".TP\n%s\n%s\n", line(tag), line(roff)) }

// Example is a block shown as it is, in a fixed-width font, one string per line.
func (p *Page) Example(lines []string) {
	p.b.WriteString(".PP\n.RS\n.nf\n")
	for _, l := range lines {
		fmt.Fprintf(&p.b, "%s\n", line(T(l)))
	}
	p.b.WriteString(".fi\n.RE\n")
}

// String returns the page.
func (p *Page) String() string { return p.b.String() }

// T escapes plain text: backslashes, and hyphens (so that options stay "-" in every output
// device and copy-paste works).
// Other characters than ASCII become \[uXXXX], which every device renders.
func T(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// B is bold text.
func B(s string) string { return `\fB` + T(s) + `\fR` }

// I is italic text.
func I(s string) string { return `\fI` + T(s) + `\fR` }

// line keeps a text line from being read as a request: one starting with "." or "'" gets
// a zero-width prefix, and empty lines (which roff renders as blank lines) are dropped.
func line(roff string) string {
	var out []string
	for _, l := range strings.Split(roff, "\n") {
		if l == "" {
			continue
		}
		if l[0] == '.' || l[0] == '\'' {
			l = `\&` + l
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
