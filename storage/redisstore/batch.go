package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// revokedBatcher sends the revocation checks of concurrent requests to
// Redis together, one pipeline per round trip (issue 13: the production
// shape's introspection paid a round trip of its own per request, and
// Redis a read and a reply per request). There is no background goroutine:
// the first caller to find no batch in flight leads — it sends its own
// check with every check waiting, answers them all, then hands the lead to
// the first check that arrived meanwhile, if any. Every check is read from
// Redis after its request arrived, so a revocation made on any instance is
// seen at once; batching only changes how many checks share the trip.
type revokedBatcher struct {
	s *Store

	mu      sync.Mutex
	pending []*revokedReq
	leading bool // a caller is sending a batch
}

// maxRevokedBatch bounds one pipeline; the rest wait for the next.
const maxRevokedBatch = 128

// revokedBatchTimeout bounds a batch: it runs without the leader's
// cancellation (a leader whose client hung up must not fail the others'
// checks), so it needs a deadline of its own.
const revokedBatchTimeout = 5 * time.Second

type revokedReq struct {
	c   storage.RevocationCheck
	now time.Time
	// ready receives once: the answer is in, or lead is set and this
	// caller sends the next batch.
	ready   chan struct{}
	lead    bool
	revoked bool
	err     error
}

func (b *revokedBatcher) check(ctx context.Context, req *revokedReq) (bool, error) {
	b.mu.Lock()
	if b.leading {
		b.pending = append(b.pending, req)
		b.mu.Unlock()
		// Not abandoned when ctx ends: this caller may be handed the lead,
		// and the batch carrying it is bounded by revokedBatchTimeout.
		<-req.ready
		if !req.lead {
			return req.revoked, req.err
		}
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	b.lead(ctx, req)
	return req.revoked, req.err
}

// lead sends own with the waiting checks, answers them, and passes the
// lead on.
func (b *revokedBatcher) lead(ctx context.Context, own *revokedReq) {
	b.mu.Lock()
	n := min(len(b.pending), maxRevokedBatch-1)
	batch := make([]*revokedReq, 0, n+1)
	batch = append(batch, own)
	batch = append(batch, b.pending[:n]...)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokedBatchTimeout)
	defer cancel()
	cmds := make([]revokedCmds, len(batch))
	// Each command carries its own error; the pipeline's (the first of
	// them, redis.Nil for a key that is not there) adds nothing.
	_, _ = b.s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range batch {
			cmds[i] = b.s.queueRevoked(ctx, p, r.c)
		}
		return nil
	})
	for i, r := range batch {
		r.revoked, r.err = cmds[i].answer(r.c, r.now)
		if r != own {
			r.ready <- struct{}{}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.leading = false
		return
	}
	next := b.pending[0]
	b.pending = b.pending[1:]
	next.lead = true
	next.ready <- struct{}{}
}
