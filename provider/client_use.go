package provider

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// clientUseInterval is how often the use of a registered client is
// written: its LastUsedAt is at most this stale, which is nothing beside
// oauth2.registration_client_ttl (at least an hour, 90 days by default).
const clientUseInterval = time.Hour

// maxClientUses bounds the memory of recent writes.
const maxClientUses = 10000

// clientToucher records a client's use (storage.Clients.TouchClient).
type clientToucher interface {
	TouchClient(ctx context.Context, id string, at time.Time) error
}

// clientUses remembers when this instance last wrote a client's use, so a
// busy client costs one write an hour, not one per token. The zero value
// is ready.
type clientUses struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// due reports whether the use of id at now should be written, and if so
// notes it.
func (u *clientUses) due(id string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if last, ok := u.m[id]; ok && now.Sub(last) < clientUseInterval && !now.Before(last) {
		return false
	}
	if u.m == nil || len(u.m) >= maxClientUses {
		u.m = make(map[string]time.Time)
	}
	u.m[id] = now
	return true
}

// noteClientUse records that a token was issued to a dynamically
// registered client, so that an unused one can expire
// (oauth2.registration_client_ttl). A failed write is logged; the token
// is issued all the same.
func (p *Provider) noteClientUse(ctx context.Context, cl *storage.Client) {
	if !cl.Registered {
		return
	}
	t, ok := p.store.(clientToucher)
	if !ok {
		return
	}
	now := p.now()
	if now.Sub(cl.LastUsedAt) < clientUseInterval || !p.clientUses.due(cl.ID, now) {
		return
	}
	if err := t.TouchClient(ctx, cl.ID, now); err != nil {
		p.log.WarnContext(ctx, "could not record the use of a registered client", "client_id", cl.ID, "err", err)
	}
}
