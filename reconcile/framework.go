package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
)

// FrameworkConfig configures the Mesos framework that runs the services.
type FrameworkConfig struct {
	Name, Role      string
	FailoverTimeout time.Duration
	RefuseSeconds   time.Duration
}

// RunFramework runs the Mesos framework that keeps the services up while
// ctx lasts (while this replica leads), under the framework id kept in the
// store, or, when the store was lost, the one our service tasks run under.
func RunFramework(ctx context.Context, log *slog.Logger, mc *mesos.Client, st store.Store, keeper *ServiceKeeper, fc FrameworkConfig, owner string) {
	meta, err := st.GetMeta(ctx)
	if err != nil {
		log.Error("framework not started: cannot read its id from the store", "err", err)
		return
	}
	if meta.FrameworkID == "" {
		if id, err := ServiceFrameworkID(ctx, mc, owner); err == nil && id != "" {
			log.Warn("no framework id in the store; resuming the framework that runs our services", "framework_id", id)
			meta.FrameworkID = id
		}
	}
	fw := mesos.NewFramework(mc, keeper, mesos.FrameworkOptions{
		Name: fc.Name, Role: fc.Role, FailoverTimeout: fc.FailoverTimeout, RefuseSeconds: fc.RefuseSeconds,
		FrameworkID: meta.FrameworkID, Log: log,
		SaveID: func(id string) error {
			// The loop writes the same record (the source's revision):
			// a conflict is retried on the fresh record.
			for try := 0; ; try++ {
				m, err := st.GetMeta(ctx)
				if err != nil {
					return err
				}
				m.FrameworkID = id
				if _, err = st.PutMeta(ctx, m); err == nil || !errors.Is(err, store.ErrConflict) || try == 3 {
					return err
				}
			}
		},
	})
	if err := fw.Run(ctx); err != nil {
		log.Error("framework stopped", "err", err)
	}
}
