package redisstore

import (
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/redisstore/redistest"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// The conformance suites on a real three-master Cluster: every script and
// transaction keeps to one hash slot (no CROSSSLOT), and the atomic steps
// stay atomic across shards.
func TestCluster(t *testing.T) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.Cluster(t)})
	t.Cleanup(func() { _ = cc.Close() })
	open := func(t *testing.T) *Store {
		return New(Options{Client: cc, Prefix: "lkc:" + uuid.NewString() + ":"})
	}
	t.Run("Tokens", func(t *testing.T) {
		storagetest.RunTokens(t, func(t *testing.T) storage.Tokens { return open(t) })
	})
	t.Run("Codes", func(t *testing.T) {
		storagetest.RunCodes(t, func(t *testing.T) storage.Codes { return open(t) })
	})
	t.Run("LoginSessions", func(t *testing.T) {
		storagetest.RunLoginSessions(t, func(t *testing.T) storage.LoginSessions { return open(t) })
	})
	t.Run("DeviceCodes", func(t *testing.T) {
		storagetest.RunDeviceCodes(t, func(t *testing.T) storage.DeviceCodes { return open(t) })
	})
}
