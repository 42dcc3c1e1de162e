package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// The loop calls Idle after a pass unless a trigger is already waiting:
// then the next pass is due at once, and is not delayed by it.
func TestLoopIsIdleOnlyWhenNoPassIsDue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trigger := make(chan struct{}, 1)
	loads, idleAfter := 0, []int{}
	l := &Loop{
		Load: func() (*Desired, error) {
			loads++
			switch loads {
			case 1:
				trigger <- struct{}{} // a file changed during the pass
			case 3:
				cancel()
			}
			return nil, errors.New("a broken source")
		},
		Trigger: trigger,
		Resync:  time.Millisecond,
		Now:     time.Now,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Idle:    func() { idleAfter = append(idleAfter, loads) },
	}
	if err := l.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if loads != 3 || len(idleAfter) != 2 || idleAfter[0] != 2 || idleAfter[1] != 3 {
		t.Fatalf("after %d passes, idle after passes %v; want idle after passes 2 and 3, not after 1 (a trigger waited)", loads, idleAfter)
	}
}
