package redistier_test

import (
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// The backend implements the byte tier and its optional capabilities.
var (
	_ tiered.ByteBackend = (*redistier.Backend)(nil)
	_ tiered.BatchGetter = (*redistier.Backend)(nil)
	_ tiered.BatchSetter = (*redistier.Backend)(nil)
)

func TestNewRejectsNilClients(t *testing.T) {
	var typed *redis.Client
	var cluster *redis.ClusterClient
	for _, c := range []redis.UniversalClient{nil, typed, cluster} {
		if _, err := redistier.New(c, redistier.Options{}); !errors.Is(err, redistier.ErrNilClient) {
			t.Errorf("New(%T(nil)): err = %v, want ErrNilClient", c, err)
		}
	}
}
