package httpcache

import "sync"

// flight is one origin request that concurrent misses of the same URL wait for. The leader
// releases it with the stored entry, or with nil as soon as it knows its response will not be
// stored: followers then go to the origin themselves.
type flight struct {
	done     chan struct{}
	e        *entry
	released bool
}

type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key, creating it (leader == true) when there is none.
func (f *flights) join(key string) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		return fl, false
	}
	fl = &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

// peek returns the flight for key, if any, without starting one.
func (f *flights) peek(key string) *flight {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[key]
}

// release ends the flight with e (nil: followers fetch for themselves). Only the first call
// counts.
func (f *flights) release(key string, fl *flight, e *entry) {
	if fl == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.released {
		return
	}
	fl.released = true
	fl.e = e
	if f.m[key] == fl {
		delete(f.m, key)
	}
	close(fl.done)
}
