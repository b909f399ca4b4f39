package disktier

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger hands Pebble's messages to the user's slog.Logger: informational ones at Debug,
// errors at Error.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf reports an invariant Pebble found broken. Pebble does not expect Fatalf to return, so
// after logging it panics, as a Pebble store that cannot go on would.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}
