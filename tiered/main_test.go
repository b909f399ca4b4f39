package tiered

import (
	"fmt"
	"os"
	"testing"

	"github.com/stratacache/strata/internal/redistest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := redistest.RunWithoutExit(m)
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
