// Package redistest starts Redis deployments of a test's own from the
// installed redis-server: a Cluster today. Without redis-server a test
// fails when LATCHKEY_TEST_REQUIRE_SERVICES=1 and is skipped otherwise.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// Cluster starts a three-master Redis Cluster of the test's own
// (redis-server processes in temporary directories, slots split in three),
// stopped at cleanup, and returns its node addresses. Without redis-server the test fails
// when LATCHKEY_TEST_REQUIRE_SERVICES=1 and is skipped otherwise.
func Cluster(tb testing.TB) []string {
	tb.Helper()
	bin := storagetest.RequireProgram(tb, "the Redis Cluster suite", "redis-server")
	ctx := context.Background()
	const nodes = 3
	addrs := make([]string, nodes)
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
		dir := tb.TempDir()
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	clients := make([]*redis.Client, nodes)
	for i, a := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
		deadline := time.Now().Add(10 * time.Second)
		for clients[i].Ping(ctx).Err() != nil {
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s did not start", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const slots = 16384
	for i, c := range clients {
		lo, hi := i*slots/nodes, (i+1)*slots/nodes-1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			tb.Fatalf("add slots: %v", err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := net.SplitHostPort(a)
		if err := clients[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			tb.Fatalf("cluster meet: %v", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", nodes)) {
				ready = false
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("the cluster did not reach cluster_state:ok")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	deadline = time.Now().Add(10 * time.Second)
	for cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }) != nil {
		if time.Now().After(deadline) {
			tb.Fatal("a cluster client cannot reach every shard")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addrs
}
