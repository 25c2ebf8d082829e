// Command hadirector-demo plays the README's main job inside the IPVS test VM: the
// examples/ director pair with real IPVS, two real servers and a client in namespaces, and a
// narrated, checked timeline (see internal/demo). `make demo` boots the VM and runs it:
//
//	go run ./internal/vmtest/cmd/vmrun -exec ./cmd/hadirector-demo -bin ./cmd/hadirector -timeout 5m -- [-seed N]
//
// Exit status: 0 when every step happened as narrated, 1 when one did not, 2 when the demo
// could not be set up (for instance outside the VM, on a kernel without IPVS).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/hadirector/hadirector/internal/demo"
	"github.com/hadirector/hadirector/internal/lab"
)

func main() {
	seed := flag.Uint64("seed", 0, "seed of the random power-loss moment (0: from the clock)")
	bin := flag.String("bin", "", "hadirector binary (default: hadirector on PATH)")
	breakStep := flag.String("break", "", "break a step on purpose, for the test that proves the demo notices: "+demo.BreakTakeover)
	flag.Parse()

	var res *demo.Result
	err := lab.Standalone("demo", os.Stdout, func(tb lab.TB) {
		res = demo.Run(tb, demo.Options{Bin: *bin, Seed: *seed, Out: os.Stdout, Break: *breakStep})
	})
	switch {
	case errors.Is(err, lab.ErrSkipped):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo: set-up failed:", err)
		os.Exit(2)
	case res == nil || !res.OK():
		os.Exit(1)
	}
}
