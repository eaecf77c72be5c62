// Command listen is the bcast daemon: it serves TCP, UDP and unix-domain
// listeners from one event loop on the dgram core. See README.md.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
