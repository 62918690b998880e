package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
)

// Heap pacing (see paceHeap).
const (
	minHeapGoal   = 64 << 20 // no collection below this heap size
	minGCPercent  = 30       // above it, the heap grows at most this much past the live heap
	maxGCPercent  = 2000     // below a live heap of 3 MiB, collect at 21 × live
	liveHeapFloor = 1 << 20  // below this the live heap reads as this
)

// paceHeap sets the garbage collector's pace when the operator has not
// (neither GOGC nor GOMEMLIMIT is in the environment): a collection starts
// when the heap reaches max(64 MiB, 1.3 × the heap live after the last
// collection).
//
// Go's default (GOGC=100) collects when the heap doubles. That fits neither
// of latchkey's loads (issue 13):
//   - Serving tokens, the live heap is 3–20 MiB and the allocations are
//     small and many: the default collected every 40 ms at 16k token
//     requests/s. With the 64 MiB floor a collection comes every 0.4 s
//     (2 ms of marking each: 0.5 % of a CPU).
//   - Under a password flood each hash in progress holds an argon2id buffer
//     (19 MiB by default; the local backend runs one per CPU) and leaves it
//     as garbage when it ends: the live heap is 47–58 MiB, two buffers and
//     the caches. Whatever headroom the pace gives above that fills with
//     finished buffers, and one more is often allocated while a collection
//     marks. At 1.5 × live (an 80 MiB floor before) the flood peaked at
//     153–157 MiB RSS on a server whose caches were full; at 1.3 × live
//     (under one buffer of headroom: a collection per hash or so), 133–136.
//     The extra collections cost about 1.5 ms of marking per hash, some
//     4 % of its 30–35 ms (docs/operations.md has the measurements).
//
// The pace is GOGC's own mechanism, its percentage recomputed after every
// collection (by a finalizer re-armed at each one): max(30, the growth that
// reaches 64 MiB). A soft memory limit would pace the same way on paper,
// but with it (GOGC off, the limit at the same goal) the password flood
// lost a third of its logins per second, most likely because near the
// limit the runtime returns freed memory to the OS eagerly and each new
// argon2id buffer is faulted back in.
//
// It returns the pacer (nil when the environment sets the pace), whose stop
// ends the adjustments (tests).
func paceHeap(environ []string) *heapPacer {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return nil
		}
	}
	p := &heapPacer{samples: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.adjust()
	p.arm()
	return p
}

// heapPacer moves GOGC after each collection.
type heapPacer struct {
	samples []metrics.Sample // used by one goroutine at a time: the finalizers run one by one
	stopped atomic.Bool
}

// stop ends the adjustments; the percentage last set stays.
func (p *heapPacer) stop() { p.stopped.Store(true) }

// gcSentinel is garbage as soon as it is made; its finalizer runs after
// the next collection. It holds a pointer and is larger than the tiny
// allocator's 16 bytes, which finalizers need.
type gcSentinel struct {
	p *heapPacer
	_ [2]uint64
}

func (p *heapPacer) arm() {
	runtime.SetFinalizer(&gcSentinel{p: p}, func(s *gcSentinel) {
		if s.p.stopped.Load() {
			return
		}
		s.p.adjust()
		s.p.arm()
	})
}

// adjust sets GOGC so that the next collection starts at
// max(minHeapGoal, 1.3 × live).
func (p *heapPacer) adjust() {
	metrics.Read(p.samples)
	live := uint64(liveHeapFloor)
	if p.samples[0].Value.Kind() == metrics.KindUint64 {
		live = max(live, p.samples[0].Value.Uint64())
	}
	debug.SetGCPercent(gcPercent(live))
}

// gcPercent is the GOGC whose goal for a live heap of live bytes is
// max(minHeapGoal, live × (1 + minGCPercent/100)).
func gcPercent(live uint64) int {
	if live >= minHeapGoal {
		return minGCPercent
	}
	pct := int((minHeapGoal - live) * 100 / live)
	return min(max(pct, minGCPercent), maxGCPercent)
}
