package httpcache_test

import (
	"testing"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestSecurity(t *testing.T) { httpcachetest.RunSecurity(t, httpcachetest.NetHTTP) }

func TestSemantics(t *testing.T) { httpcachetest.RunSemantics(t, httpcachetest.NetHTTP) }

func TestStreams(t *testing.T) { httpcachetest.RunStreams(t, httpcachetest.NetHTTP) }
