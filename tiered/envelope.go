package tiered

import (
	"encoding/binary"
	"fmt"
)

// The envelope is what byte tiers store: a fixed 32-byte header followed by the codec's payload.
//
//	offset size field
//	0      2    magic "ST"
//	2      1    format version (1)
//	3      1    flags (bit 0 negative, bit 1 compressed; other bits must be zero)
//	4      8    created-at, Unix nanoseconds, big endian
//	12     8    stale-at: the end of freshness, Unix nanoseconds
//	20     8    expires-at: the end of the stale window, Unix nanoseconds
//	28     4    payload length
//	32     n    payload
//
// Anything else — short, foreign, truncated, or with inconsistent times — is rejected, and the
// cache treats it as a miss.
const (
	envelopeHeaderLen = 32
	envelopeVersion   = 1

	flagNegative   = 1 << 0
	flagCompressed = 1 << 1
	knownFlags     = flagNegative | flagCompressed
)

var envelopeMagic = [2]byte{'S', 'T'}

// envelope is the decoded header of a stored entry plus its payload (which aliases the input).
type envelope struct {
	flags     uint8
	created   int64
	staleAt   int64
	expiresAt int64
	payload   []byte
}

func (e *envelope) negative() bool { return e.flags&flagNegative != 0 }

// appendEnvelope appends the encoding of e to dst.
func appendEnvelope(dst []byte, e *envelope) []byte {
	dst = append(dst, envelopeMagic[0], envelopeMagic[1], envelopeVersion, e.flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.staleAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.expiresAt))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.payload)))
	return append(dst, e.payload...)
}

// decodeEnvelope parses b. The returned payload aliases b.
func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < envelopeHeaderLen {
		return e, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorruptEntry, len(b))
	}
	if b[0] != envelopeMagic[0] || b[1] != envelopeMagic[1] {
		return e, fmt.Errorf("%w: not a strata entry", ErrCorruptEntry)
	}
	if b[2] != envelopeVersion {
		return e, fmt.Errorf("%w: unknown format version %d", ErrCorruptEntry, b[2])
	}
	e.flags = b[3]
	if e.flags&^knownFlags != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x", ErrCorruptEntry, e.flags)
	}
	e.created = int64(binary.BigEndian.Uint64(b[4:]))
	e.staleAt = int64(binary.BigEndian.Uint64(b[12:]))
	e.expiresAt = int64(binary.BigEndian.Uint64(b[20:]))
	n := binary.BigEndian.Uint32(b[28:])
	if uint64(n) != uint64(len(b)-envelopeHeaderLen) {
		return e, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrCorruptEntry, len(b)-envelopeHeaderLen, n)
	}
	if e.created <= 0 || e.staleAt < e.created || e.expiresAt < e.staleAt {
		return e, fmt.Errorf("%w: inconsistent timestamps", ErrCorruptEntry)
	}
	if e.negative() && n != 0 {
		return e, fmt.Errorf("%w: negative entry with a payload", ErrCorruptEntry)
	}
	e.payload = b[envelopeHeaderLen:]
	return e, nil
}
