package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/bolt"
	storezk "github.com/sparkmesos/reconciler/store/zk"
)

// storeEnv names the environment variable that gives the store when the
// --store flag does not.
const storeEnv = "RECONCILER_STORE"

// defaultStore is bolt:$XDG_STATE_HOME/sparkmesos-reconciler/state.db,
// with XDG's default ~/.local/state for XDG_STATE_HOME; without a home
// directory, bolt:.reconciler/state.db in the working directory.
func defaultStore() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil && home != "" {
			dir = filepath.Join(home, ".local", "state")
		}
	}
	if dir != "" {
		return "bolt:" + filepath.Join(dir, "sparkmesos-reconciler", "state.db")
	}
	return "bolt:" + filepath.Join(".reconciler", "state.db")
}

// resolveStore applies the precedence: flag, then environment, then the
// config file's context, then the default.
func resolveStore(flag, fromConfig string) string {
	return firstOf(flag, os.Getenv(storeEnv), fromConfig, defaultStore())
}

// openStoreReadOnly opens a store for reading while a writer may run.
func openStoreReadOnly(ctx context.Context, spec string) (store.Store, error) {
	switch {
	case strings.HasPrefix(spec, "bolt:"):
		return bolt.OpenReadOnly(strings.TrimPrefix(spec, "bolt:"))
	case strings.HasPrefix(spec, "zk://"):
		s, err := storezk.Open(ctx, spec, storezk.Options{Digest: os.Getenv("RECONCILER_ZK_DIGEST")})
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", redactURL(spec), err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store %q: write bolt:PATH or zk://host:2181,host2:2181/path", spec)
}
