//go:build race

package broadcast

// The race detector makes sync.Pool (which dgram's hot paths use) drop items
// at random, so allocation counts under -race say nothing about the real
// build.
const raceEnabled = true
