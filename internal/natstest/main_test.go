package natstest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
)

// childEnv makes the test binary act as a process that starts a server, prints its pid, and
// waits to be killed (see TestServerDiesWithItsTestBinary).
const childEnv = "STRATA_NATSTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		s, err := New(Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(s.Pid())
		time.Sleep(time.Minute)
		os.Exit(1)
	}
	redistest.Main(m)
}
