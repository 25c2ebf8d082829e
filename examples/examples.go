// Package examples holds the deployment files of the classic two-director LVS-DR pair
// (see README.md here). They are embedded so that the demo runs exactly these files, and so
// that tests can check them.
package examples

import "embed"

// Files holds node-a.toml, node-b.toml and notify.sh.
//
//go:embed node-a.toml node-b.toml notify.sh
var Files embed.FS
