package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGCPercentReachesTheFloorThenGrowsByAThird(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{10 << 20, 540}, // 10 MiB live: collect at 64 MiB
		{47 << 20, 36},  // the password flood's live heap, caches empty: at 64 MiB
		{58 << 20, 30},  // the same, caches full: 1.3 x 58 MiB is above the floor
		{500 << 20, 30}, // large heaps: 30 % more
		{1 << 20, 2000}, // tiny: capped
		{liveHeapFloor, 2000},
	} {
		if got := gcPercent(tc.live); got != tc.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// paceHeap follows the live heap after every collection. It changes the
// test process's GC: put back.
func TestPaceHeapFollowsTheLiveHeap(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if p := paceHeap([]string{"GOGC=100"}); p != nil {
		t.Fatal("paceHeap with GOGC set returned a pacer")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, GC percent = %d, want it left at 100", got)
	}

	p := paceHeap(nil)
	t.Cleanup(p.stop)
	if got := debug.SetGCPercent(-1); got <= minGCPercent {
		t.Fatalf("GC percent = %d with a small test heap, want above %d (the 64 MiB floor)", got, minGCPercent)
	}
	debug.SetGCPercent(100)

	// A live heap of 200 MiB: after a collection the pace is 30 %.
	live := make([][]byte, 200)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	got := 0
	for range 100 { // each collection runs the pacer's finalizer next
		runtime.GC()
		runtime.Gosched()
		if got = debug.SetGCPercent(-1); got == minGCPercent {
			break
		}
		debug.SetGCPercent(got)
	}
	if got != minGCPercent {
		t.Fatalf("GC percent = %d with 200 MiB live, want %d", got, minGCPercent)
	}
	runtime.KeepAlive(live)
}
