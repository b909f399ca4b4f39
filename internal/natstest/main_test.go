package natstest

import (
	"testing"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
