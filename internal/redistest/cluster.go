package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of redis-server processes started by the test: masters only, every
// hash slot assigned, on free loopback ports. It always runs its own servers, even when
// STRATA_REDIS_URL is set.
type Cluster struct {
	// Nodes are the masters, in the order they were created.
	Nodes []*Server
}

// NewCluster starts masters redis-server processes with cluster mode on (at least 3, as
// redis-cli requires) and joins them with redis-cli --cluster create. Close it when done.
func NewCluster(masters int) (*Cluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("redistest: a cluster needs at least 3 masters, not %d", masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, errors.New(strings.Replace(InstallHint, "redis-server not found", "redis-cli not found", 1))
	}
	c := &Cluster{}
	for range masters {
		s, err := New(Options{Args: []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--cluster-config-file", "nodes.conf"}})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.waitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// StartCluster starts a cluster of 3 masters for one test and stops it when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := NewCluster(3)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// waitReady waits until every node reports cluster_state:ok and knows every other node.
func (c *Cluster) waitReady(ctx context.Context) error {
	want := fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))
	for _, s := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, want) {
				break
			}
			select {
			case <-ctx.Done():
				_ = rdb.Close()
				return fmt.Errorf("redistest: cluster node %s not ready: %v %q", s.Addr(), err, info)
			case <-time.After(50 * time.Millisecond):
			}
		}
		_ = rdb.Close()
	}
	return nil
}

// Addrs are the masters' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// Client returns a cluster client with ContextTimeoutEnabled, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true, DialTimeout: time.Second})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Close stops every node and removes their directories.
func (c *Cluster) Close() {
	for _, s := range c.Nodes {
		s.Close()
	}
}
