//go:build !race

package main

// raceEnabled: the tests run without -race; so is the binary they start,
// which saves building the whole tree a second time with instrumentation.
const raceEnabled = false
