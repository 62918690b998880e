package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
)

// minHeapGoal is the heap size below which the garbage collector does not
// run (see paceHeap).
const minHeapGoal = 80 << 20

// paceHeap sets the garbage collector's pace when the operator has not
// (neither GOGC nor GOMEMLIMIT is in the environment): a collection starts
// when the heap reaches max(80 MiB, 1.5 × the heap that was live after the
// last collection).
//
// Go's default (GOGC=100) collects when the heap doubles. That fits neither
// of latchkey's loads (issue 13):
//   - Serving tokens, the live heap is some 10 MiB and the allocations are
//     small and many: the default collected every 40 ms at 16k token
//     requests/s. Under the 80 MiB floor it collects a few times a second.
//   - Under a password flood each hash in progress holds an argon2id buffer
//     (19 MiB by default; the local backend runs one per CPU): the live heap
//     was ~47 MiB, so the default let the heap reach ~105 MiB before
//     collecting, and the process's peak RSS was 165 MiB. Growth capped at
//     half the live heap keeps the same flood near 80 MiB of heap.
//
// A process with a large live heap still gets 50 % headroom: the goal
// follows the live heap after every collection (a finalizer re-armed at
// each one), set as the runtime's soft memory limit with GOGC off. Setting
// GOGC or GOMEMLIMIT yourself turns all of this off.
// It returns the pacer (nil when the environment sets the pace), whose
// stop ends the adjustments (tests).
func paceHeap(environ []string) *heapPacer {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return nil
		}
	}
	p := &heapPacer{samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
	p.adjust()
	debug.SetGCPercent(-1)
	p.arm()
	return p
}

// heapPacer moves the memory limit after each collection.
type heapPacer struct {
	samples []metrics.Sample // used by the finalizer goroutine only
	stopped atomic.Bool
}

// stop ends the adjustments; the limit last set stays.
func (p *heapPacer) stop() { p.stopped.Store(true) }

// gcSentinel is garbage as soon as it is made; its finalizer runs after
// the next collection. It holds a pointer and is larger than the tiny
// allocator's 16 bytes, which finalizers need.
type gcSentinel struct {
	p   *heapPacer
	pad [2]uint64
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

// adjust sets the soft memory limit to the heap goal plus what the runtime
// holds besides the heap (stacks, its own metadata), which the limit counts.
func (p *heapPacer) adjust() {
	metrics.Read(p.samples)
	v := func(i int) uint64 {
		if p.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return p.samples[i].Value.Uint64()
	}
	live := v(0)
	heap := v(2) + v(3) + v(4) + v(5)
	other := uint64(0)
	if total := v(1); total > heap {
		other = total - heap
	}
	goal := max(uint64(minHeapGoal), live+live/2) + other
	debug.SetMemoryLimit(int64(min(goal, math.MaxInt64)))
}
