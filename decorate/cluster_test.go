package decorate_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/internal/redistest"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// startCluster starts a three-master Redis Cluster on loopback and returns a client for it.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	ctx := t.Context()
	var addrs []string
	var nodes []*redis.Client
	for range 3 {
		s := redistest.Start(t, redistest.Options{Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}})
		addrs = append(addrs, s.Addr())
		nodes = append(nodes, s.Client(t))
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, c := range nodes {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := strings.Cut(a, ":")
		if err := nodes[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the cluster to form", func() bool {
		for _, c := range nodes {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false
			}
		}
		return true
	})
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	waitFor(t, "the client to see three masters", func() bool {
		if cc.ReloadState(ctx); cc.Ping(ctx).Err() != nil {
			return false
		}
		var n atomic.Int32
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { n.Add(1); return nil })
		return err == nil && n.Load() == 3
	})
	return cc
}

func TestBatchOnCluster(t *testing.T) {
	var pipelines atomic.Int64
	cc := startCluster(t)
	ctx := t.Context()
	for _, k := range []string{"foo", "bar", "{user1000}.following", "ns:users.batch(i42;)", ""} {
		want, err := cc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := redistier.Slot(k); int64(got) != want {
			t.Fatalf("Slot(%q) = %d, Redis says %d", k, got, want)
		}
	}
	cc.AddHook(&pipelineCounter{&pipelines})

	n := ns(t)
	e1, e2 := newEnvOn(t, cc, n), newEnvOn(t, cc, n)
	src := &source{}
	b1, err := decorate.Batch(e1.cache, src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	all := ids(1, 300)
	got, err := b1.Call(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, all)
	b2, err := decorate.Batch(e2.cache, src.load, batchOpts)
	if err != nil {
		t.Fatal(err)
	}
	before := pipelines.Load()
	got, err = b2.Call(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	checkUsers(t, got, all)
	if c := src.calls(); len(c) != 1 {
		t.Fatalf("source calls %d, want 1", len(c))
	}
	// One pipeline of per-slot MGETs, which go-redis sends as one round trip per master.
	if p := pipelines.Load() - before; p != 1 {
		t.Fatalf("a batch read from the cluster took %d requests, want one pipeline", p)
	}
	// The keys really are spread over the masters.
	var used atomic.Int32
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if n, err := c.DBSize(ctx).Result(); err == nil && n > 0 {
			used.Add(1)
		}
		return nil
	})
	if err != nil || used.Load() != 3 {
		t.Fatalf("entries on %d masters, want 3 (%v)", used.Load(), err)
	}
}

// pipelineCounter counts the requests a cluster client makes, apart from its own CLUSTER queries.
type pipelineCounter struct{ n *atomic.Int64 }

func (h *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if fmt.Sprint(cmd.Args()[0]) != "cluster" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}
