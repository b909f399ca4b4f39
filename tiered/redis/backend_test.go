package redistier_test

import (
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// The backend implements the byte tier and its optional capabilities.
var (
	_ tiered.ByteBackend      = (*redistier.Backend)(nil)
	_ tiered.ContextHonouring = (*redistier.Backend)(nil)
	_ tiered.BatchGetter      = (*redistier.Backend)(nil)
	_ tiered.BatchSetter      = (*redistier.Backend)(nil)
)
