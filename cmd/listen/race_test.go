//go:build race

package main

// raceEnabled makes TestMain build the daemon with -race too, so the race
// detector watches the real binary the tests drive.
const raceEnabled = true
