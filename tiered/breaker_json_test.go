package tiered_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stratacache/strata/tiered"
)

func TestBreakerStateJSON(t *testing.T) {
	for _, st := range []tiered.BreakerState{tiered.BreakerClosed, tiered.BreakerOpen, tiered.BreakerHalfOpen} {
		b, err := json.Marshal(tiered.TierStats{Name: "redis", Breaker: st})
		if err != nil {
			t.Fatal(err)
		}
		if want := `"Breaker":"` + st.String() + `"`; !strings.Contains(string(b), want) {
			t.Errorf("%v marshals as %s, want it to contain %s", st, b, want)
		}
		var back tiered.TierStats
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back.Breaker != st {
			t.Errorf("%s came back as %v, want %v", b, back.Breaker, st)
		}
	}

	if _, err := json.Marshal(tiered.BreakerState(7)); err == nil {
		t.Error("an undefined state marshalled without error")
	}
	st := tiered.BreakerOpen
	if err := st.UnmarshalText([]byte("ajar")); err == nil || !strings.Contains(err.Error(), "ajar") {
		t.Errorf("unknown name: %v", err)
	}
	if st != tiered.BreakerOpen {
		t.Errorf("a failed UnmarshalText changed the state to %v", st)
	}
}

// TestStatsJSONBreakerName marshals the snapshot of a real cache: the breaker reads as a name.
func TestStatsJSONBreakerName(t *testing.T) {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := json.Marshal(c.Stats())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Breaker":"closed"`) {
		t.Errorf("Stats as JSON: %s", b)
	}
}
