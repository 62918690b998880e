package redisstore

import (
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

func TestCodes(t *testing.T) {
	testClient(t)
	storagetest.RunCodes(t, func(t *testing.T) storage.Codes {
		s, _, _ := openStore(t)
		return s
	})
}

func TestLoginSessions(t *testing.T) {
	testClient(t)
	storagetest.RunLoginSessions(t, func(t *testing.T) storage.LoginSessions {
		s, _, _ := openStore(t)
		return s
	})
}

// Code and session keys expire by themselves: at the record's expiry when
// that is far enough ahead, else minTTL from now; an update that
// slides a session moves its key's expiry.
func TestCodeAndLoginKeysExpire(t *testing.T) {
	s, c, prefix := openStore(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	mustOK(t, s.CreateCode(ctx, storage.Code{Hash: "soon", ClientID: "web", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	mustOK(t, s.CreateCode(ctx, storage.Code{Hash: "late", ClientID: "web", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	mustOK(t, s.CreateLogin(ctx, storage.LoginSession{ID: "l1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err := s.ConsumeCode(ctx, "late", now)
	mustOK(t, err)

	for key, want := range map[string]time.Duration{
		"code:soon": minTTL,
		"code:late": time.Hour,
		"login:l1":  time.Hour,
	} {
		ttl, err := c.PTTL(ctx, prefix+key).Result()
		mustOK(t, err)
		if d := want - ttl; d < 0 || d > 5*time.Second {
			t.Errorf("%s has PTTL %v, want about %v", key, ttl, want)
		}
	}
	_, err = s.UpdateLogin(ctx, "l1", now, func(l *storage.LoginSession) error {
		l.ExpiresAt = now.Add(24 * time.Hour)
		return nil
	})
	mustOK(t, err)
	ttl, err := c.PTTL(ctx, prefix+"login:l1").Result()
	mustOK(t, err)
	if d := 24*time.Hour - ttl; d < 0 || d > 5*time.Second {
		t.Errorf("slid session has PTTL %v, want about 24h", ttl)
	}
}

func TestDeviceCodes(t *testing.T) {
	testClient(t)
	storagetest.RunDeviceCodes(t, func(t *testing.T) storage.DeviceCodes {
		s, _, _ := openStore(t)
		return s
	})
}
