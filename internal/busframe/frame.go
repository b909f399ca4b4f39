// Package busframe is the wire format of strata's invalidation bus: compact binary frames, one per
// bus message, the same whatever carries them (Redis Pub/Sub, NATS).
//
//	offset size field
//	0      2    magic "SI"
//	2      1    format version (1)
//	3      1    kind (1 keys, 2 update, 3 pattern, 4 tags, 5 clear)
//	4      1    sender instance id length n (1..255)
//	5      n    sender instance id
//	5+n    ...  body, by kind:
//	            keys     list of keys
//	            update   key, list of tags, then the stored entry (the cache's envelope) to the end
//	            pattern  pattern
//	            tags     list of tags, then list of keys the sender found under them
//	            clear    nothing
//
// A string is a uvarint length followed by its bytes; a list is a uvarint count followed by that
// many strings. A frame that is short, foreign (wrong magic), of another version or kind, or has
// bytes left over is malformed: receivers count it and ignore it.
package busframe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	version     = 1
	headerLen   = 5
	maxSenderID = 255
)

var magic = [2]byte{'S', 'I'}

// MaxSenderID is the longest sender instance id a frame carries.
const MaxSenderID = maxSenderID

// Kind is the kind of a bus message.
type Kind uint8

// Message kinds.
const (
	Keys Kind = iota + 1
	Update
	Pattern
	Tags
	Clear
)

var kindNames = [...]string{"", "keys", "update", "pattern", "tags", "clear"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Message is a decoded frame.
type Message struct {
	Kind    Kind
	Sender  string
	Keys    []string // Keys; Tags (the keys found under the tags)
	Tags    []string // Update, Tags
	Key     string   // Update
	Pattern string   // Pattern
	Entry   []byte   // Update: the stored entry; it aliases the frame
}

// ErrMalformed marks a frame that cannot be decoded.
var ErrMalformed = errors.New("strata: malformed bus message")

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

// Encode returns the frame of m. The sender id must be 1 to 255 bytes long.
func Encode(m *Message) []byte {
	n := headerLen + len(m.Sender) + len(m.Key) + len(m.Pattern) + len(m.Entry) + 16
	for _, s := range m.Keys {
		n += len(s) + 2
	}
	for _, s := range m.Tags {
		n += len(s) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, magic[0], magic[1], version, byte(m.Kind), byte(len(m.Sender)))
	b = append(b, m.Sender...)
	switch m.Kind {
	case Keys:
		b = appendList(b, m.Keys)
	case Update:
		b = appendString(b, m.Key)
		b = appendList(b, m.Tags)
		b = append(b, m.Entry...)
	case Pattern:
		b = appendString(b, m.Pattern)
	case Tags:
		b = appendList(b, m.Tags)
		b = appendList(b, m.Keys)
	}
	return b
}

// reader consumes a frame's body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || (n > 1 && r.b[n-1] == 0) { // overflow, truncated, or not the shortest form
		r.err = fmt.Errorf("%w: bad length", ErrMalformed)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: string of %d bytes past the end", ErrMalformed, n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) list() []string {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	// Every element takes at least one byte, which bounds what a hostile count can allocate.
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: list of %d elements past the end", ErrMalformed, n)
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

// Decode parses a frame. It never panics; every failure wraps ErrMalformed. An update's entry is
// returned as it is (it aliases b): its own format is the cache's to check.
func Decode(b []byte) (*Message, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrMalformed, len(b))
	}
	if b[0] != magic[0] || b[1] != magic[1] {
		return nil, fmt.Errorf("%w: not a strata bus message", ErrMalformed)
	}
	if b[2] != version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrMalformed, b[2])
	}
	m := &Message{Kind: Kind(b[3])}
	idLen := int(b[4])
	if idLen == 0 || len(b) < headerLen+idLen {
		return nil, fmt.Errorf("%w: bad sender id", ErrMalformed)
	}
	m.Sender = string(b[headerLen : headerLen+idLen])
	r := &reader{b: b[headerLen+idLen:]}
	switch m.Kind {
	case Keys:
		m.Keys = r.list()
		if r.err == nil && len(m.Keys) == 0 {
			r.err = fmt.Errorf("%w: no keys", ErrMalformed)
		}
	case Update:
		m.Key = r.str()
		m.Tags = r.list()
		if r.err == nil {
			if len(r.b) == 0 {
				r.err = fmt.Errorf("%w: update without an entry", ErrMalformed)
			}
			m.Entry, r.b = r.b, nil
		}
		if r.err == nil && m.Key == "" {
			r.err = fmt.Errorf("%w: update of the empty key", ErrMalformed)
		}
	case Pattern:
		m.Pattern = r.str()
		if r.err == nil && m.Pattern == "" {
			r.err = fmt.Errorf("%w: empty pattern", ErrMalformed)
		}
	case Tags:
		m.Tags = r.list()
		m.Keys = r.list()
	case Clear:
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, b[3])
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s message: %w", m.Kind, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after a %s message", ErrMalformed, len(r.b), m.Kind)
	}
	return m, nil
}
