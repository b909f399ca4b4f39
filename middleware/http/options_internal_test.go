package httpcache

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestOptionsValidation(t *testing.T) {
	for name, o := range map[string]Options{
		"negative MaxStaleOnError":       {MaxStaleOnError: -time.Second},
		"negative MaxHeuristicFreshness": {MaxHeuristicFreshness: -time.Second},
		"HeuristicFraction above 1":      {HeuristicFraction: 1.5},
		"negative HeuristicFraction":     {HeuristicFraction: -0.1},
		"NaN HeuristicFraction":          {HeuristicFraction: math.NaN()},
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidOptions", name, err)
		}
	}
	c, err := New(Options{MaxHeuristicFreshness: time.Hour, MaxStaleOnError: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.opts.HeuristicFraction != DefaultHeuristicFraction {
		t.Fatalf("HeuristicFraction default = %v", c.opts.HeuristicFraction)
	}
}
