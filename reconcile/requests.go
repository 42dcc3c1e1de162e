package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// ErrUnknownApp: the store has no record of the application.
var ErrUnknownApp = errors.New("no such application in the store")

// RequestRerun records that an application should run once more now; the
// next pass resubmits it (killing a running driver first).
func RequestRerun(ctx context.Context, st store.Store, name string, now time.Time) error {
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w (apply it first)", name, ErrUnknownApp)
	}
	if err != nil {
		return err
	}
	rec.RerunRequested = now
	rec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "RerunRequested", Message: "a rerun was requested"})
	_, err = st.Put(ctx, rec)
	return err
}

// Delete kills an application's latest submission, unless it ended, and
// forgets the application. If its manifest still exists, the next pass
// submits it again.
func Delete(ctx context.Context, st store.Store, dispatchers Dispatchers, name string) (string, error) {
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%s: %w", name, ErrUnknownApp)
	}
	if err != nil {
		return "", err
	}
	msg := "no driver to kill"
	if n := len(rec.Submissions); n > 0 {
		s := rec.Submissions[n-1]
		if base := dispatcherOf(rec); base != "" && !isTerminalTask(s.State) && s.ID != "" {
			res, err := dispatchers.For(base).Kill(ctx, s.ID)
			if err != nil {
				return "", fmt.Errorf("kill %s: %w", s.ID, err)
			}
			msg = fmt.Sprintf("driver %s: %s", s.ID, res.Message)
		}
	}
	if err := st.Delete(ctx, rec.Key, rec.Version); err != nil {
		return "", err
	}
	return msg, nil
}
