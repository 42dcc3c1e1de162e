package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/render"
	gitsource "github.com/sparkmesos/reconciler/source/git"
)

// gitOptions say which repository, revision and path diff, apply and run
// follow instead of a directory.
type gitOptions struct {
	url   string
	rev   string
	path  string
	cache string
	depth int
	auth  gitsource.Auth
}

func (o *gitOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.url, "git", "", "follow a Git repository instead of a directory: https://, ssh://, git@host:path or file:// (credentials from the --git-*-file flags, never in the URL)")
	f.StringVar(&o.rev, "rev", "", "with --git: a branch, a tag or a commit (default: the repository's default branch)")
	f.StringVar(&o.path, "git-path", "", "with --git: the directory of the repository holding the manifests (default: all of it)")
	f.StringVar(&o.cache, "git-cache", "", "with --git: where the clone is kept ($XDG_CACHE_HOME/sparkmesos-reconciler/git)")
	f.IntVar(&o.depth, "git-depth", 1, "with --git: commits fetched per branch or tag; 0 fetches full history, which also detects force-pushes")
	f.StringVar(&o.auth.Username, "git-username", "", "with --git over https: user name for --git-password-file (default git)")
	f.StringVar(&o.auth.PasswordFile, "git-password-file", "", "with --git over https: file holding the password or access token (basic authentication)")
	f.StringVar(&o.auth.TokenFile, "git-token-file", "", "with --git over https: file holding a bearer token")
	f.StringVar(&o.auth.SSHKeyFile, "git-ssh-key-file", "", "with --git over ssh: the private key")
	f.StringVar(&o.auth.SSHKeyPassphraseFile, "git-ssh-key-passphrase-file", "", "with --git over ssh: file holding the key's passphrase")
	f.StringVar(&o.auth.KnownHostsFile, "git-known-hosts-file", "", "with --git over ssh: known_hosts file the server's key must be in (required for ssh)")
}

func (o *gitOptions) enabled() bool { return o.url != "" }

// checkFlags refuses Git flags without --git.
func (o *gitOptions) checkFlags(cmd *cobra.Command) error {
	if o.enabled() {
		return nil
	}
	for _, name := range []string{"rev", "git-path", "git-cache", "git-depth", "git-username", "git-password-file", "git-token-file", "git-ssh-key-file", "git-ssh-key-passphrase-file", "git-known-hosts-file", "git-poll", "git-webhook-secret-file"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			return fmt.Errorf("--%s needs --git URL", name)
		}
	}
	return nil
}

func (o *gitOptions) open() (*gitsource.Repo, error) {
	cache := o.cache
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, errors.New("no cache directory: set --git-cache")
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "sparkmesos-reconciler", "git")
	}
	repo, err := gitsource.Open(gitsource.Options{URL: o.url, Ref: o.rev, Path: o.path, CacheDir: cache, Depth: o.depth, Auth: o.auth})
	if err != nil {
		return nil, fmt.Errorf("--git: %w", err)
	}
	return repo, nil
}

// location names the repository and path, for status.
func location(r *gitsource.Repo) string {
	if r.Path() == "" {
		return r.URL()
	}
	return r.URL() + " path " + r.Path() + "/"
}

// snapshotDesired builds the desired state of a Git snapshot: file names
// are paths in the repository, the revision stamps it, and its problems
// are returned (sorted) for the caller to report.
func snapshotDesired(repo *gitsource.Repo, snap *gitsource.Snapshot, syncErr error, lo loadOpts) (*reconcile.Desired, v1.Problems, error) {
	d, problems, err := desiredFrom(snap.Files, snap.Problems, lo)
	if err != nil {
		return nil, nil, err
	}
	d.SetRevision(snap.Revision.String())
	d.Source = &reconcile.Source{Location: location(repo), Problems: problemStrings(problems), Rewritten: snap.Rewritten}
	if syncErr != nil {
		d.Source.SyncError = syncErr.Error()
	}
	return d, problems, nil
}

// desiredFrom loads and renders manifest files; files that could not be
// read or loaded become BrokenFiles. The problems are sorted.
func desiredFrom(files []v1.File, readProblems v1.Problems, lo loadOpts) (*reconcile.Desired, v1.Problems, error) {
	m, problems := v1.LoadWith(files, v1.LoadOptions{ScheduleSeconds: lo.scheduleSeconds})
	problems = append(readProblems, problems...)
	problems.Sort()
	d, err := reconcile.BuildDesired(m, problems, render.Options{Owner: lo.owner})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range readProblems {
		if p.Pos.File != "" {
			d.BrokenFiles[p.Pos.File] = true
		}
	}
	return d, problems, nil
}

func problemStrings(ps v1.Problems) []string {
	var out []string
	for _, p := range ps.Errors() {
		out = append(out, p.Error())
	}
	return out
}

// loadGit syncs the repository once (diff, apply) and builds its desired
// state, printing problems to streams.Err.
func loadGit(ctx context.Context, streams Streams, o gitOptions, lo loadOpts) (*reconcile.Desired, v1.Problems, error) {
	repo, err := o.open()
	if err != nil {
		return nil, nil, err
	}
	snap, err := repo.Sync(ctx)
	if err != nil {
		return nil, nil, failure(fmt.Errorf("--git: %w", err))
	}
	d, problems, err := snapshotDesired(repo, snap, nil, lo)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range problems.Errors() {
		fmt.Fprintf(streams.Err, "%s (at %s)\n", p.Error(), d.Revision)
	}
	fmt.Fprintf(streams.Err, "Revision: %s of %s (%d manifest files)\n", d.Revision, location(repo), len(snap.Files))
	return d, problems, nil
}

// pathsOrGit checks that a command got manifest paths or --git, not both.
func pathsOrGit(g *gitOptions, cmd *cobra.Command, args []string) error {
	if err := g.checkFlags(cmd); err != nil {
		return err
	}
	switch {
	case g.enabled() && len(args) > 0:
		return fmt.Errorf("give manifest paths (%s) or --git, not both", strings.Join(args, " "))
	case !g.enabled() && len(args) == 0:
		return errors.New("give the manifests: one or more PATHs, or --git URL")
	}
	return nil
}
