package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// rotateBatcher groups concurrent refresh-token rotations into one SQLite
// transaction (group commit). SQLite has one writer, and most of a
// rotation's cost is the commit: writing the dirty pages to the WAL. Under
// load a batch shares one commit, so the writer does several rotations for
// the price of a few. Each caller is answered only after the commit, so
// nothing acknowledged can be lost. Rotations of one token in one batch run
// one after the other, exactly as in separate transactions: the first wins,
// the next is reuse.
type rotateBatcher struct {
	s    *Store
	reqs chan *rotateReq
	done chan struct{}
}

type rotateReq struct {
	ref      storage.TokenRef
	clientID string
	next     storage.RefreshToken
	rot      storage.Rotation
	reply    chan rotateReply
}

type rotateReply struct {
	fam    familyRow
	reused bool
	err    error
}

// maxRotateBatch bounds one transaction; batchTimeout bounds its time.
const (
	maxRotateBatch = 64
	batchTimeout   = 10 * time.Second
)

func newRotateBatcher(s *Store) *rotateBatcher {
	b := &rotateBatcher{s: s, reqs: make(chan *rotateReq, maxRotateBatch), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *rotateBatcher) close() { close(b.done) }

// rotate queues one rotation and waits for the batch that carries it. A
// caller that gives up before its rotation is queued gets ctx's error and
// nothing happens; once queued, the rotation is committed or not with its
// batch (bounded by batchTimeout), and the caller waits for that answer even
// if ctx ends meanwhile: an error never comes back for a rotation that
// happened. Only a store closing under it leaves the answer unknown.
func (b *rotateBatcher) rotate(ctx context.Context, ref storage.TokenRef, clientID string, next storage.RefreshToken, rot storage.Rotation) (familyRow, bool, error) {
	req := &rotateReq{ref: ref, clientID: clientID, next: next, rot: rot, reply: make(chan rotateReply, 1)}
	select {
	case <-b.done: // the queue has room after close too
		return familyRow{}, false, errClosed
	default:
	}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		return familyRow{}, false, ctx.Err()
	case <-b.done:
		return familyRow{}, false, errClosed
	}
	select {
	case r := <-req.reply:
		return r.fam, r.reused, r.err
	case <-b.done: // the loop has stopped and will not answer
		return familyRow{}, false, errClosed
	}
}

// loop takes the first waiting rotation and every other one already queued,
// and runs them in one transaction.
func (b *rotateBatcher) loop() {
	batch := make([]*rotateReq, 0, maxRotateBatch)
	for {
		select {
		case <-b.done:
			return
		case req := <-b.reqs:
			batch = append(batch[:0], req)
		}
	drain:
		for len(batch) < maxRotateBatch {
			select {
			case req := <-b.reqs:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		b.run(batch)
	}
}

// run executes a batch in one transaction. A rotation writes nothing unless
// it succeeds or detects a reuse (Store.rotate), so its answer about the
// data (not found, reused) needs no savepoint; an infrastructure error
// rolls the whole batch back and is every caller's answer.
func (b *rotateBatcher) run(batch []*rotateReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	replies := make([]rotateReply, len(batch))
	// Prepared before the transaction takes the writer's only connection.
	stmts, err := b.s.writeStmts(ctx, b.s.q.rotateToken)
	if err == nil {
		err = b.s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			for i, req := range batch {
				r := &replies[i]
				r.reused, r.err = b.s.rotate(ctx, tx, stmts[0], req.ref, req.clientID, req.next, req.rot, &r.fam)
				if r.err != nil && !isResult(r.err) {
					return r.err
				}
			}
			return nil
		})
	}
	for i, req := range batch {
		if err != nil {
			replies[i] = rotateReply{err: err} // Rotate translates it
		}
		req.reply <- replies[i]
	}
}

// isResult reports whether err is an answer about the data rather than a
// failure of the database.
func isResult(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrReused)
}
