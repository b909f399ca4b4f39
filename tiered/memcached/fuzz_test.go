package memcachedtier

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// unwrap reads items that anyone could have written: it never panics, and it hands out bytes for
// a key only when the item was written for that very key.
func FuzzUnwrap(f *testing.F) {
	long := strings.Repeat("k", 300)
	f.Add(wrap(long, []byte("data"), time.Minute, time.Now()).Value, uint32(flagHashed), long, []byte("data"))
	f.Add(wrap("plain", []byte("data"), time.Minute, time.Now()).Value, uint32(0), "plain", []byte("data"))
	f.Add([]byte{0xff, 0xff, 0xff}, uint32(flagHashed), "a b", []byte(nil))
	f.Add([]byte{5, 'a', ' ', 'b'}, uint32(flagHashed), "a b", []byte(nil))
	f.Fuzz(func(t *testing.T, value []byte, flags uint32, key string, data []byte) {
		_, hashed := itemKey(key)
		_, ok := unwrap(&memcache.Item{Value: value, Flags: flags}, key, hashed)
		if ok && hashed && !bytes.Contains(value, []byte(key)) {
			t.Fatalf("hashed item served for %q without the key inside", key)
		}
		if ok && !hashed && flags != 0 {
			t.Fatalf("plain item with flags %d served", flags)
		}
		// What wrap writes, unwrap reads back.
		it := wrap(key, data, time.Minute, time.Now())
		back, ok := unwrap(it, key, hashed)
		if !ok || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %q: %q %v", key, back, ok)
		}
	})
}
