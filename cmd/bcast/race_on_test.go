//go:build race

package main

// The race detector makes sync.Pool drop items at random, so allocation
// counts under -race say nothing about the real build.
const raceEnabled = true
