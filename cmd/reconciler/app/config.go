package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sparkmesos/reconciler/render"
)

// The output formats of status, for completion.
var statusFormats = []string{"table", "yaml", "json"}

// A config file holds connection settings per context, like kubectl's:
//
//	current-context: prod
//	contexts:
//	  prod:
//	    master: mesos://zk://zk1:2181,zk2:2181/mesos
//	    store: zk://zk1:2181,zk2:2181/reconciler
//	    owner: spark-reconciler-prod
//	    mesos-principal: reconciler
//	    mesos-secret-file: /etc/reconciler/mesos.secret
//	    server: reconciler.prod:8080
//
// Settings resolve as flags, then RECONCILER_* variables, then the
// context, then the defaults.
type fileConfig struct {
	CurrentContext string                   `json:"current-context,omitempty"`
	Contexts       map[string]contextConfig `json:"contexts,omitempty"`
}

// contextConfig is one context's settings.
type contextConfig struct {
	Master          string `json:"master,omitempty"`
	Store           string `json:"store,omitempty"`
	Owner           string `json:"owner,omitempty"`
	MesosPrincipal  string `json:"mesos-principal,omitempty"`
	MesosSecretFile string `json:"mesos-secret-file,omitempty"`
	Server          string `json:"server,omitempty"`
}

// loadedConfig is the context in force and where it came from.
type loadedConfig struct {
	contextConfig
	File, Context string
}

type configKey struct{}

// configOf is the loaded config of a command's context (empty without one).
func configOf(ctx context.Context) loadedConfig {
	if ctx == nil {
		return loadedConfig{}
	}
	c, _ := ctx.Value(configKey{}).(loadedConfig)
	return c
}

// defaultConfigFile is $XDG_CONFIG_HOME/sparkmesos-reconciler/config.yaml
// (XDG_CONFIG_HOME defaulting to ~/.config).
func defaultConfigFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "sparkmesos-reconciler", "config.yaml")
}

// loadConfig reads the config file (file, else $RECONCILER_CONFIG, else
// the default, which may be missing) and picks the context (name, else
// $RECONCILER_CONTEXT, else current-context).
func loadConfig(file, name string) (loadedConfig, error) {
	explicit := firstOf(file, os.Getenv("RECONCILER_CONFIG"))
	path := firstOf(explicit, defaultConfigFile())
	name = firstOf(name, os.Getenv("RECONCILER_CONTEXT"))
	var fc fileConfig
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && explicit == "":
			path = ""
		case err != nil:
			return loadedConfig{}, invalid(fmt.Errorf("config %s: %w", path, err))
		default:
			if err := yaml.UnmarshalStrict(data, &fc); err != nil {
				return loadedConfig{}, invalid(fmt.Errorf("config %s: %v (keys are current-context and contexts: NAME: {master, store, owner, mesos-principal, mesos-secret-file, server})", path, err))
			}
		}
	}
	name = firstOf(name, fc.CurrentContext)
	if name == "" {
		return loadedConfig{File: path}, nil
	}
	c, ok := fc.Contexts[name]
	if !ok {
		var names []string
		for n := range fc.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		where := "no config file"
		if path != "" {
			where = "config " + path
		}
		return loadedConfig{}, invalid(fmt.Errorf("context %q is not in %s (contexts: %s)", name, where, orDash(strings.Join(names, ", "))))
	}
	return loadedConfig{contextConfig: c, File: path, Context: name}, nil
}

// registerConfig adds --config and --context to the root command and
// loads the config before any verb runs.
func registerConfig(root *cobra.Command) {
	var file, name string
	root.PersistentFlags().StringVar(&file, "config", "", "config file of connection settings per context ($RECONCILER_CONFIG; default $XDG_CONFIG_HOME/sparkmesos-reconciler/config.yaml)")
	root.PersistentFlags().StringVar(&name, "context", "", "the config file's context to use ($RECONCILER_CONTEXT; default its current-context)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Name() == "version" || (cmd.HasParent() && cmd.Parent().Name() == "completion") {
			return nil // they need no settings: a broken config file must not break them
		}
		c, err := loadConfig(file, name)
		if err != nil {
			return err
		}
		cmd.SetContext(context.WithValue(cmd.Context(), configKey{}, c))
		return nil
	}
}

// setting is one resolved connection setting and where it came from.
type setting struct {
	key, value, from string
}

// resolvedSettings resolves the connection settings without flags, for
// config view.
func resolvedSettings(c loadedConfig) []setting {
	pick := func(key, env, fromConfig, def string) setting {
		switch {
		case os.Getenv(env) != "":
			return setting{key, os.Getenv(env), "$" + env}
		case fromConfig != "":
			return setting{key, fromConfig, "context " + c.Context}
		}
		return setting{key, def, "default"}
	}
	return []setting{
		pick("master", "RECONCILER_MASTER", c.Master, "mesos://127.0.0.1:5050"),
		pick("store", storeEnv, c.Store, defaultStore()),
		pick("owner", "RECONCILER_OWNER", c.Owner, render.DefaultOwner),
		pick("mesos-principal", "RECONCILER_MESOS_PRINCIPAL", c.MesosPrincipal, ""),
		pick("mesos-secret-file", "RECONCILER_MESOS_SECRET_FILE", c.MesosSecretFile, ""),
		pick("server", "RECONCILER_SERVER", c.Server, ""),
	}
}

// redactURL hides a password in a URL (zk://user:pass@host/...).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
		return strings.Replace(u.String(), "REDACTED", "<redacted>", 1)
	}
	return s
}

func newConfigCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the connection settings in force",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "view",
		Short: "Print the settings in force and where each comes from, secrets redacted",
		Long: `config view prints the config file and context in force, then each connection
setting with where it comes from: a RECONCILER_* variable, the context, or the
default (flags of a verb win over all of them). Passwords in URLs are
redacted; secret files are shown by path, never read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := configOf(cmd.Context())
			fmt.Fprintf(streams.Out, "config:   %s\n", orDash(c.File))
			fmt.Fprintf(streams.Out, "context:  %s\n", orDash(c.Context))
			for _, s := range resolvedSettings(c) {
				fmt.Fprintf(streams.Out, "%-18s %-50s (%s)\n", s.key+":", orDash(redactURL(s.value)), s.from)
			}
			if os.Getenv("RECONCILER_ZK_DIGEST") != "" {
				fmt.Fprintf(streams.Out, "%-18s %-50s (%s)\n", "zk-digest:", "<redacted>", "$RECONCILER_ZK_DIGEST")
			}
			return nil
		},
	})
	return cmd
}

// completeNames completes object names from the store (of the given kinds;
// none: every kind): the store the command's flags, environment and config
// select.
func completeNames(kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		flag := func(name string) string {
			if f := cmd.Flag(name); f != nil {
				return f.Value.String()
			}
			return ""
		}
		c, err := loadConfig(flag("config"), flag("context"))
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		spec := resolveStore(flag("store"), c.Store)
		if path, ok := strings.CutPrefix(spec, "bolt:"); ok {
			if _, err := os.Stat(path); err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
		defer cancel()
		st, err := openStoreReadOnly(ctx, spec)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		defer st.Close()
		recs, err := st.List(ctx, "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for _, r := range recs {
			if (len(kinds) == 0 || slices.Contains(kinds, r.Key.Kind)) && strings.HasPrefix(r.Key.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(r.Key.Name, r.Key.Kind+" "+r.Status.Phase))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
