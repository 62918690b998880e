package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// paceHeap turns GOGC off and paces collections with the memory limit:
// at least 80 MiB, and 1.5 × the live heap once that is larger, followed
// after every collection. It changes the test process's GC: put back.
func TestPaceHeapFollowsTheLiveHeap(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})

	if p := paceHeap([]string{"GOGC=100"}); p != nil {
		t.Fatal("paceHeap with GOGC set returned a pacer")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, GC percent = %d, want it left at 100", got)
	}

	p := paceHeap(nil)
	t.Cleanup(p.stop)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GC percent = %d, want -1 (off: the limit paces)", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit < minHeapGoal || limit > 4*minHeapGoal {
		t.Fatalf("memory limit = %d MiB, want about %d MiB", limit>>20, minHeapGoal>>20)
	}

	// A live heap of 200 MiB: after a collection the limit follows it.
	live := make([][]byte, 200)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	for range 100 { // each collection runs the pacer's finalizer next
		runtime.GC()
		runtime.Gosched()
		if debug.SetMemoryLimit(-1) >= 300<<20 {
			break
		}
	}
	if limit := debug.SetMemoryLimit(-1); limit < 300<<20 {
		t.Fatalf("memory limit = %d MiB with 200 MiB live, want at least 300 MiB", limit>>20)
	}
	runtime.KeepAlive(live)
}
