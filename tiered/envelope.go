package tiered

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The envelope is what byte tiers store: a fixed 56-byte header followed by the codec's payload.
//
//	offset size field
//	0      2    magic "ST"
//	2      1    format version (3)
//	3      1    flags (bit 0 negative, bit 1 compressed with S2; other bits must be zero)
//	4      8    fingerprint of the value's Go type and codec (0 for a negative entry)
//	12     8    created-at, Unix nanoseconds, big endian
//	20     8    refresh-at: start of the refresh-ahead window
//	28     8    stale-at: end of freshness
//	36     8    end of the serve-stale-while-refresh window
//	44     8    expires-at: end of the stale-if-error window, when the tier drops the entry
//	52     4    payload length
//	56     n    payload
//
// Anything else — short, foreign, truncated, of another format version (entries of versions 1
// and 2 included: version 2 entries were encoded with JSON by default and compressed with gzip),
// or with inconsistent times — is rejected, and the cache treats it as a miss.
const (
	envelopeHeaderLen = 56
	envelopeVersion   = 3

	flagNegative   = 1 << 0
	flagCompressed = 1 << 1
	knownFlags     = flagNegative | flagCompressed
)

var envelopeMagic = [2]byte{'S', 'T'}

// errCorrupt describes an entry that could not be decoded. Readers never see it: a corrupt entry
// is a miss. It is reported to the Logger and counted in Stats.
var errCorrupt = errors.New("tiered: corrupt entry")

// envelope is the decoded header of a stored entry plus its payload (which aliases the input).
type envelope struct {
	flags   uint8
	fp      uint64
	t       times
	payload []byte
}

func (e *envelope) negative() bool { return e.flags&flagNegative != 0 }

// appendEnvelope appends the encoding of e to dst.
func appendEnvelope(dst []byte, e *envelope) []byte {
	dst = append(dst, envelopeMagic[0], envelopeMagic[1], envelopeVersion, e.flags)
	dst = binary.BigEndian.AppendUint64(dst, e.fp)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.t.created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.t.refreshAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.t.staleAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.t.swrEnd))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.t.expiresAt))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.payload)))
	return append(dst, e.payload...)
}

// encodeEnvelope returns the encoding of e in a new slice of the exact size.
func encodeEnvelope(e *envelope) []byte {
	return appendEnvelope(make([]byte, 0, envelopeHeaderLen+len(e.payload)), e)
}

// decodeEnvelope parses b. The returned payload aliases b.
func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < 4 {
		return e, fmt.Errorf("%w: %d bytes is shorter than the header", errCorrupt, len(b))
	}
	if b[0] != envelopeMagic[0] || b[1] != envelopeMagic[1] {
		return e, fmt.Errorf("%w: not a strata entry", errCorrupt)
	}
	if b[2] != envelopeVersion {
		return e, fmt.Errorf("%w: format version %d, this build reads %d", errCorrupt, b[2], envelopeVersion)
	}
	if len(b) < envelopeHeaderLen {
		return e, fmt.Errorf("%w: %d bytes is shorter than the header", errCorrupt, len(b))
	}
	e.flags = b[3]
	if e.flags&^knownFlags != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x", errCorrupt, e.flags)
	}
	e.fp = binary.BigEndian.Uint64(b[4:])
	e.t.created = int64(binary.BigEndian.Uint64(b[12:]))
	e.t.refreshAt = int64(binary.BigEndian.Uint64(b[20:]))
	e.t.staleAt = int64(binary.BigEndian.Uint64(b[28:]))
	e.t.swrEnd = int64(binary.BigEndian.Uint64(b[36:]))
	e.t.expiresAt = int64(binary.BigEndian.Uint64(b[44:]))
	n := binary.BigEndian.Uint32(b[52:])
	if uint64(n) != uint64(len(b)-envelopeHeaderLen) {
		return e, fmt.Errorf("%w: payload is %d bytes, header says %d", errCorrupt, len(b)-envelopeHeaderLen, n)
	}
	t := &e.t
	if t.created <= 0 || t.refreshAt < t.created || t.staleAt < t.refreshAt || t.swrEnd < t.staleAt || t.expiresAt < t.swrEnd {
		return e, fmt.Errorf("%w: inconsistent timestamps", errCorrupt)
	}
	if e.negative() && (n != 0 || e.fp != 0) {
		return e, fmt.Errorf("%w: negative entry with a payload or a type", errCorrupt)
	}
	if !e.negative() && e.fp == 0 {
		return e, fmt.Errorf("%w: value without a type fingerprint", errCorrupt)
	}
	e.payload = b[envelopeHeaderLen:]
	return e, nil
}
