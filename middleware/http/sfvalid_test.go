package httpcache

import "testing"

func TestValidTargetedField(t *testing.T) {
	for in, want := range map[string]bool{
		"max-age=60":                   true,
		"max-age=60, private":          true,
		"no-store":                     true,
		"max-age=60;a=1, x=\"y\"":      true,
		"max-age=1.5":                  false,
		`max-age="10000"`:              false,
		"max-age=10000, &&&&&":         false,
		"Max-Age=60":                   false,
		"max-age":                      false,
		"max-age=60,":                  false,
		"max-age=60 public":            false,
		"a=?1, b=:aGk=:, c=tok/en":     true,
		"max-age=1234567890123456":     false,
		"stale-if-error=5, s-maxage=3": true,
	} {
		if got := validTargetedField([]string{in}); got != want {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
}

func FuzzValidTargetedField(f *testing.F) {
	f.Add("max-age=60, private;x=1")
	f.Fuzz(func(t *testing.T, s string) { validTargetedField([]string{s}) })
}
