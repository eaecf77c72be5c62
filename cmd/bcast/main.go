// Command bcast sends, receives, relays and diagnoses UDP broadcast and
// multicast on a LAN. See README.md, or run bcast --help.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
