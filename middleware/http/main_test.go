package httpcache_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) {
	code := redistest.RunWithoutExit(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestSecurity(t *testing.T) { httpcachetest.RunSecurity(t, httpcachetest.NetHTTP) }

func TestSemantics(t *testing.T) { httpcachetest.RunSemantics(t, httpcachetest.NetHTTP) }

func TestStreams(t *testing.T) { httpcachetest.RunStreams(t, httpcachetest.NetHTTP) }
