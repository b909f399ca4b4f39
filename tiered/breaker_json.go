package tiered

import "fmt"

// MarshalText encodes the state as its name ("closed", "open" or "half-open"), so that a [Stats]
// snapshot marshalled to JSON (or logged through a JSON handler) reads "breaker":"open" rather than
// a number. A value outside the defined states is an error.
func (s BreakerState) MarshalText() ([]byte, error) {
	if int(s) >= len(breakerNames) {
		return nil, fmt.Errorf("tiered: breaker state %d is not defined", uint8(s))
	}
	return []byte(breakerNames[s]), nil
}

// UnmarshalText decodes a state from the name MarshalText gives it. An unknown name is an error
// and leaves s unchanged.
func (s *BreakerState) UnmarshalText(text []byte) error {
	for i, name := range breakerNames {
		if string(text) == name {
			*s = BreakerState(i)
			return nil
		}
	}
	return fmt.Errorf("tiered: unknown breaker state %q (want closed, open or half-open)", text)
}
