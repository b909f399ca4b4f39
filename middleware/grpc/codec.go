package grpccache

import "github.com/stratacache/strata/tiered"

// Codec is the tiered.Codec for caches that hold gRPC responses: it stores a response as its
// message type name, proto bytes and recorded metadata, length-prefixed, with no JSON or base64
// around them. Values of other types go through [tiered.JSON], so a cache using Codec can hold
// other values too.
//
//	cache, err := tiered.New(tiered.Options{Tiers: tiers, Codec: grpccache.Codec})
var Codec tiered.Codec = codec{}

type codec struct{}

// MarshalBinary encodes e in binary form: cached responses encode themselves, so any tiered cache
// holds them whatever its codec.
func (e *entry) MarshalBinary() ([]byte, error) { return e.appendBinary(nil) }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (e *entry) UnmarshalBinary(data []byte) error {
	d, err := decodeEntry(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

// Name returns "grpccache".
func (codec) Name() string { return "grpccache" }

// Marshal encodes a cached response in binary form and anything else as JSON.
func (codec) Marshal(v any) ([]byte, error) {
	if e, ok := v.(*entry); ok {
		return e.appendBinary(nil)
	}
	return tiered.JSON.Marshal(v)
}

// Unmarshal decodes what Marshal wrote into the value ptr points to.
func (codec) Unmarshal(data []byte, ptr any) error {
	if p, ok := ptr.(**entry); ok {
		e, err := decodeEntry(data)
		if err != nil {
			return err
		}
		*p = e
		return nil
	}
	return tiered.JSON.Unmarshal(data, ptr)
}
