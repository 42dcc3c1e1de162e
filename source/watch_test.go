package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchSignalsChangesCoalesced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A long interval, so that a leading signal cannot be mistaken for
	// a trailing one.
	ch, err := Watch(ctx, []string{dir}, 400*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 5; i++ { // a burst of writes...
		write(t, filepath.Join(dir, "a.yaml"), "x")
	}
	select {
	case <-ch: // ...signals at once (the leading edge)...
		if took := time.Since(start); took >= 400*time.Millisecond {
			t.Fatalf("the first signal came after %s: the interval's end, not its start", took)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no signal after writes")
	}
	// ...then at most once more (the trailing edge), then nothing.
	trailing := 0
	for done := false; !done; {
		select {
		case <-ch:
			trailing++
		case <-time.After(900 * time.Millisecond):
			done = true
		}
	}
	if trailing > 1 {
		t.Fatalf("a burst of 5 writes gave %d more signals, want at most 1", trailing)
	}
	// A new subdirectory is watched too.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no signal for a new directory")
	}
	time.Sleep(100 * time.Millisecond)
	write(t, filepath.Join(dir, "sub", "b.yaml"), "y")
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no signal for a file in a new directory")
	}
}
