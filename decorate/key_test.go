package decorate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/tiered"
)

type keyArgs struct {
	S   string
	B   []byte
	I   int32
	U   uint8
	F   float64
	Ok  bool
	P   *int16
	Arr [2]string
	L   []string
}

// FuzzKeysAreUnambiguous checks that two different argument values never share a key, and that
// equal ones always do.
func FuzzKeysAreUnambiguous(f *testing.F) {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	w, err := decorate.Func2(c, func(context.Context, keyArgs, string) (int, error) { return 0, nil }, decorate.Options{Name: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("a", "bc", int32(1), uint8(2), 1.5, true, int16(3), "x", "y", "ab", "c")
	f.Add("ab", "c", int32(-1), uint8(0), 0.25, false, int16(0), "", ";", "s1:", ")")
	f.Fuzz(func(t *testing.T, s1, s2 string, i int32, u uint8, fl float64, ok bool, p int16, a0, a1, l0, tail string) {
		x := keyArgs{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: ok, P: &p, Arr: [2]string{a0, a1}, L: []string{l0}}
		// Variants that naive concatenation would confuse with x.
		variants := []keyArgs{
			{S: s1 + s2, B: nil, I: i, U: u, F: fl, Ok: ok, P: &p, Arr: x.Arr, L: x.L},
			{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: ok, P: nil, Arr: x.Arr, L: x.L},
			{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: ok, P: &p, Arr: [2]string{a0 + a1, ""}, L: x.L},
			{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: ok, P: &p, Arr: x.Arr, L: []string{l0, ""}},
			{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: ok, P: &p, Arr: x.Arr, L: nil},
			{S: s1, B: []byte(s2), I: i + 1, U: u, F: fl, Ok: ok, P: &p, Arr: x.Arr, L: x.L},
			{S: s1, B: []byte(s2), I: i, U: u, F: fl, Ok: !ok, P: &p, Arr: x.Arr, L: x.L},
		}
		k := w.Key(x, tail)
		q := p
		same := x
		same.P, same.B = &q, []byte(s2)
		if w.Key(same, tail) != k {
			t.Fatalf("equal arguments, different keys")
		}
		for n, v := range variants {
			if v.S == x.S && string(v.B) == string(x.B) && v.Arr == x.Arr && len(v.L) == len(x.L) && (len(v.L) == 0 || v.L[0] == x.L[0]) && v.I == x.I && v.Ok == x.Ok && (v.P == nil) == (x.P == nil) {
				continue // the variant happens to equal x
			}
			if w.Key(v, tail) == k {
				t.Fatalf("variant %d shares the key %q", n, k)
			}
		}
		if s1 != "" && w.Key(x, tail) == w.Key(keyArgs{S: s1[1:], B: x.B, I: i, U: u, F: fl, Ok: ok, P: &p, Arr: x.Arr, L: x.L}, string(s1[0])+tail) {
			t.Fatalf("moving a byte between arguments keeps the key")
		}
	})
}

func TestKeyEncodingIsStable(t *testing.T) {
	c, err := tiered.New(tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type q struct {
		Tenant string
		ID     uint64
		At     time.Time
		Tags   []string
		Ratio  float32
		On     bool
	}
	w, err := decorate.Func(c, func(context.Context, q) (int, error) { return 0, nil }, decorate.Options{Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	got := w.Key(q{Tenant: "acme", ID: 7, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Tags: []string{"a", "b"}, Ratio: 0.5, On: true})
	// Keys are stored in shared tiers: this encoding is a format, and must not change silently.
	const want = "q({s4:acmeu7;T2026-01-02T03:04:05Z;[2:s1:as1:b]f0.5;b1})"
	if got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
}
