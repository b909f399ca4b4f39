package tiered

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bus messages are compact binary frames, one per Pub/Sub message:
//
//	offset size field
//	0      2    magic "SI"
//	2      1    format version (1)
//	3      1    kind (1 keys, 2 update, 3 pattern, 4 tags, 5 clear)
//	4      1    sender instance id length n (1..255)
//	5      n    sender instance id
//	5+n    ...  body, by kind:
//	            keys     list of keys
//	            update   key, list of tags, then the entry's envelope (see envelope.go) to the end
//	            pattern  pattern
//	            tags     list of tags, then list of keys the sender found under them
//	            clear    nothing
//
// A string is a uvarint length followed by its bytes; a list is a uvarint count followed by that
// many strings. In an update the envelope's created-at is the sender's clock when it sent the
// message, so receivers take the remaining lifetime (stale-at − created-at, expires-at − created-at)
// and apply it to their own clock: clocks of different hosts never need to agree.
//
// A frame that is short, foreign (wrong magic), of another version or kind, or has bytes left over
// is malformed: receivers count it and ignore it.

const (
	busVersion     = 1
	maxInstanceID  = 255
	busFrameHeader = 5
)

var busMagic = [2]byte{'S', 'I'}

// msgKind is the kind of a bus message.
type msgKind uint8

const (
	kindKeys msgKind = iota + 1
	kindUpdate
	kindPattern
	kindTags
	kindClear
)

var kindNames = [...]string{"", "keys", "update", "pattern", "tags", "clear"}

func (k msgKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// busMessage is a decoded bus frame.
type busMessage struct {
	kind    msgKind
	sender  string
	keys    []string // keys, tags (the keys found under the tags)
	tags    []string // update, tags
	key     string   // update
	pattern string   // pattern
	entry   envelope // update; its payload aliases the frame
}

// errMalformed marks a frame that cannot be decoded.
var errMalformed = errors.New("tiered: malformed bus message")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// encodeBusMessage returns the frame of m.
func encodeBusMessage(m *busMessage) []byte {
	n := busFrameHeader + len(m.sender) + len(m.key) + len(m.pattern) + 16
	for _, s := range m.keys {
		n += len(s) + 2
	}
	for _, s := range m.tags {
		n += len(s) + 2
	}
	if m.kind == kindUpdate {
		n += envelopeHeaderLen + len(m.entry.payload)
	}
	b := make([]byte, 0, n)
	b = append(b, busMagic[0], busMagic[1], busVersion, byte(m.kind), byte(len(m.sender)))
	b = append(b, m.sender...)
	switch m.kind {
	case kindKeys:
		b = appendList(b, m.keys)
	case kindUpdate:
		b = appendString(b, m.key)
		b = appendList(b, m.tags)
		b = appendEnvelope(b, &m.entry)
	case kindPattern:
		b = appendString(b, m.pattern)
	case kindTags:
		b = appendList(b, m.tags)
		b = appendList(b, m.keys)
	}
	return b
}

// frameReader consumes a frame's body.
type frameReader struct {
	b   []byte
	err error
}

func (r *frameReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || (n > 1 && r.b[n-1] == 0) { // overflow, truncated, or not the shortest form
		r.err = fmt.Errorf("%w: bad length", errMalformed)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *frameReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: string of %d bytes past the end", errMalformed, n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *frameReader) list() []string {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	// Every element takes at least one byte, which bounds what a hostile count can allocate.
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: list of %d elements past the end", errMalformed, n)
		return nil
	}
	l := make([]string, 0, n)
	for range n {
		l = append(l, r.str())
		if r.err != nil {
			return nil
		}
	}
	return l
}

// decodeBusMessage parses a frame. It never panics; every failure wraps errMalformed.
func decodeBusMessage(b []byte) (*busMessage, error) {
	if len(b) < busFrameHeader {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", errMalformed, len(b))
	}
	if b[0] != busMagic[0] || b[1] != busMagic[1] {
		return nil, fmt.Errorf("%w: not a strata bus message", errMalformed)
	}
	if b[2] != busVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", errMalformed, b[2])
	}
	m := &busMessage{kind: msgKind(b[3])}
	idLen := int(b[4])
	if idLen == 0 || len(b) < busFrameHeader+idLen {
		return nil, fmt.Errorf("%w: bad sender id", errMalformed)
	}
	m.sender = string(b[busFrameHeader : busFrameHeader+idLen])
	r := &frameReader{b: b[busFrameHeader+idLen:]}
	switch m.kind {
	case kindKeys:
		m.keys = r.list()
		if r.err == nil && len(m.keys) == 0 {
			r.err = fmt.Errorf("%w: no keys", errMalformed)
		}
	case kindUpdate:
		m.key = r.str()
		m.tags = r.list()
		if r.err == nil {
			var err error
			if m.entry, err = decodeEnvelope(r.b); err != nil {
				r.err = fmt.Errorf("%w: %w", errMalformed, err)
			} else if m.entry.negative() {
				r.err = fmt.Errorf("%w: update with a negative entry", errMalformed)
			}
			r.b = nil
		}
		if r.err == nil && m.key == "" {
			r.err = fmt.Errorf("%w: update of the empty key", errMalformed)
		}
	case kindPattern:
		m.pattern = r.str()
		if r.err == nil && m.pattern == "" {
			r.err = fmt.Errorf("%w: empty pattern", errMalformed)
		}
	case kindTags:
		m.tags = r.list()
		m.keys = r.list()
	case kindClear:
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", errMalformed, b[3])
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s message: %w", m.kind, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after a %s message", errMalformed, len(r.b), m.kind)
	}
	return m, nil
}
