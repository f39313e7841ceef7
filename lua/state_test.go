package lua

import (
	"testing"
	"time"
)

// TestHeapWatcherStopsAndRestarts: the watcher runs while calls are active,
// stops when idle, and starts again for the next call.
func TestHeapWatcherStopsAndRestarts(t *testing.T) {
	watch.enter()
	if !watch.running.Load() || watch.objects.Load() == 0 {
		t.Fatalf("after enter: running=%v objects=%d", watch.running.Load(), watch.objects.Load())
	}
	watch.leave()
	guard := time.Now().Add(10 * time.Second)
	for watch.running.Load() {
		if time.Now().After(guard) {
			t.Fatal("the watcher still runs 10 s after the last call")
		}
		time.Sleep(10 * time.Millisecond)
	}
	watch.enter()
	defer watch.leave()
	if !watch.running.Load() {
		t.Fatal("the watcher did not restart for a new call")
	}
}
