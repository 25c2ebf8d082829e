// Command hello is a test fixture for lab.Build: it prints its network namespace and a
// marker line, then sleeps until killed if asked to.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	ns, _ := os.Readlink("/proc/self/ns/net")
	fmt.Println("hello from", ns)
	if len(os.Args) > 1 && os.Args[1] == "wait" {
		time.Sleep(time.Hour)
	}
}
