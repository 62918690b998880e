package stores

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
)

func TestNewRedisClientPicksTheModeFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     config.Redis
		cluster bool
		wantErr bool
	}{
		{name: "a URL is one node", cfg: config.Redis{URL: "redis://:pw@127.0.0.1:6379/3"}},
		{name: "a rediss URL is one node over TLS", cfg: config.Redis{URL: "rediss://127.0.0.1:6380/0"}},
		{name: "one address is one node", cfg: config.Redis{Addrs: []string{"127.0.0.1:6379"}}},
		{name: "addresses with a master name are Sentinels", cfg: config.Redis{Addrs: []string{"a:26379", "b:26379"}, MasterName: "mymaster"}},
		{name: "several addresses are a Cluster", cfg: config.Redis{Addrs: []string{"a:7000", "b:7001", "c:7002"}}, cluster: true},
		{name: "a Cluster has no database but 0", cfg: config.Redis{Addrs: []string{"a:7000", "b:7001"}, DB: 2}, wantErr: true},
		{name: "nothing configured is an error", cfg: config.Redis{}, wantErr: true},
		{name: "a bad URL is an error that does not echo it", cfg: config.Redis{URL: "http://user:secret@host"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewRedisClient(tc.cfg)
			if tc.wantErr {
				if err == nil {
					c.Close()
					t.Fatal("no error")
				}
				if tc.cfg.URL != "" && strings.Contains(err.Error(), "secret") {
					t.Errorf("error echoes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, isCluster := c.(*redis.ClusterClient)
			if isCluster != tc.cluster {
				t.Errorf("client is %T, cluster = %v", c, tc.cluster)
			}
		})
	}
}

// Every command, script or pipeline sent is one round trip for the metrics,
// whether or not Redis answers: the count runs before the dial.
func TestOpenRedisCountsRoundTrips(t *testing.T) {
	n := 0
	// Nothing listens on port 1: every command fails fast, after counting.
	r, err := Opener{}.OpenRedis(config.Redis{URL: "redis://127.0.0.1:1/0"}, func() { n++ })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	client := r.(redisStore).client
	ctx := context.Background()
	_ = r.Ping(ctx)
	if n != 1 {
		t.Fatalf("one ping counted %d round trips, want 1", n)
	}
	_, _ = client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "a")
		p.Get(ctx, "b")
		p.Get(ctx, "c")
		return nil
	})
	if n != 2 {
		t.Fatalf("a ping and a pipeline of three counted %d round trips, want 2", n)
	}
}
