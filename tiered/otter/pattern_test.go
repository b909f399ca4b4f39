package ottertier

import (
	"fmt"
	"testing"
	"time"
)

func TestDeletePattern(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 100 {
		b.Set(fmt.Sprint("user:", i), i, time.Minute)
	}
	b.Set("user:x", 0, time.Minute)
	b.Set("group:1", 0, time.Minute)
	if n := b.DeletePattern("user:[0-9]*"); n != 100 {
		t.Fatalf("DeletePattern removed %d, want 100", n)
	}
	for _, k := range []string{"user:x", "group:1"} {
		if _, ok := b.Get(k); !ok {
			t.Fatalf("%s removed", k)
		}
	}
	if _, ok := b.Get("user:5"); ok {
		t.Fatal("user:5 survived")
	}
}
