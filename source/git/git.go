// Package git follows a path in a Git repository: the desired manifests at
// a branch, a tag or a pinned commit, with the revision they came from.
//
// The repository is cloned once into a cache directory (a bare repository,
// no work tree) and fetched from then on; a branch or tag is fetched
// shallow (Options.Depth) unless full history is asked for. A sync first
// asks the remote where the ref points (one round trip, like git
// ls-remote) and fetches only when that commit is not in the cache, so
// polling an unchanged repository is cheap. Manifests are read straight
// from the commit's tree with the same rules as a directory: .yaml, .yml
// and .json files, hidden files and directories skipped, symbolic links
// followed inside the repository.
//
// Credentials come from files, read at every sync (so a rotated token is
// picked up), and never appear in errors or logs: a URL carrying a password
// is refused.
package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/source"
)

// Options say which repository, revision and path to follow.
type Options struct {
	// URL is the repository: https://, http://, ssh://, git@host:path or
	// file://. It may name a user but never a password.
	URL string
	// Ref is a branch, a tag, a full ref (refs/...) or a commit (at least 7
	// hex digits). Names win over commits, as with git. Empty: the
	// remote's default branch.
	Ref string
	// Path is the directory inside the repository to read; empty: all of it.
	Path string
	// CacheDir holds the clones, one directory per URL.
	CacheDir string
	// Depth is how many commits a branch or tag fetch brings: 1 is shallow
	// (the default of the command line); 0 is full history, which also lets
	// a sync tell a force-push (Snapshot.Rewritten). Pinned commits are
	// always fetched in full.
	Depth int
	Auth  Auth
}

// Auth are the credentials, each from a file.
type Auth struct {
	// Username and PasswordFile: HTTP basic authentication (a token as the
	// password works with GitHub and GitLab).
	Username     string
	PasswordFile string
	// TokenFile: an HTTP bearer token.
	TokenFile string
	// SSHKeyFile (and its passphrase) with KnownHostsFile, which is
	// required: the server's key is checked against it.
	SSHKeyFile           string
	SSHKeyPassphraseFile string
	KnownHostsFile       string
}

// Revision names a commit and how it was reached: main@sha1:HASH for a
// branch, v1.2@sha1:HASH for a tag, sha1:HASH for a pinned commit.
type Revision struct {
	Ref  string `json:"ref,omitempty"` // the branch or tag name; empty for a pinned commit
	Hash string `json:"hash"`          // 40 hex digits
}

func (r Revision) String() string {
	if r.Hash == "" {
		return ""
	}
	if r.Ref == "" {
		return "sha1:" + r.Hash
	}
	return r.Ref + "@sha1:" + r.Hash
}

// Snapshot is the manifests at one revision.
type Snapshot struct {
	Revision Revision
	// Files are the manifest files, named by their path in the repository.
	Files []v1.File
	// Problems name the files that could not be read (too large, a link
	// leading out of the repository).
	Problems v1.Problems
	// Rewritten is true when the previous revision this Repo synced is not
	// an ancestor of this one: history was rewritten (a force-push, a
	// branch recreated). Known only with full history (Depth 0).
	Rewritten bool
	// Previous is the revision synced before this one, if any.
	Previous Revision
}

// Repo is a cached clone being followed. Its methods are not safe for
// concurrent use; processes sharing a cache directory take turns (a lock
// file).
type Repo struct {
	opts Options
	dir  string
	repo *gogit.Repository
	last plumbing.Hash
}

var hexRef = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// Open checks the options and opens (or creates) the clone in the cache.
// Nothing is fetched yet.
func Open(opts Options) (*Repo, error) {
	if opts.URL == "" {
		return nil, errors.New("no repository URL")
	}
	if err := checkURL(opts.URL); err != nil {
		return nil, err
	}
	if opts.CacheDir == "" {
		return nil, errors.New("no cache directory for the clone")
	}
	if opts.Depth < 0 {
		return nil, fmt.Errorf("depth %d: 0 (full history) or more", opts.Depth)
	}
	for _, part := range strings.Split(opts.Path, "/") {
		if part == ".." {
			return nil, fmt.Errorf("path %q: a directory inside the repository, without '..'", opts.Path)
		}
	}
	opts.Path = strings.TrimPrefix(path.Clean("/"+opts.Path), "/")
	sum := sha256.Sum256([]byte(opts.URL))
	r := &Repo{opts: opts, dir: filepath.Join(opts.CacheDir, hex.EncodeToString(sum[:8]))}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("git cache: %w", err)
	}
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.openCache(); err != nil {
		return nil, err
	}
	if rev, ok := r.synced()[opts.Ref]; ok {
		r.last = plumbing.NewHash(rev.Hash)
	}
	return r, nil
}

// checkURL refuses a URL with a password in it: credentials belong in
// files, where they are never printed.
func checkURL(raw string) error {
	if !strings.Contains(raw, "://") {
		return nil // scp-like user@host:path carries no password
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("repository URL: %v", redactErr(err, raw))
	}
	if _, has := u.User.Password(); has {
		return errors.New("the repository URL carries a password: put it in a file and pass --git-password-file (or --git-token-file) instead")
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
		return nil
	}
	return fmt.Errorf("repository URL scheme %q: use https, http, ssh, git or file", u.Scheme)
}

// redactErr keeps a library's error from echoing a URL's user info.
func redactErr(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		msg = strings.ReplaceAll(msg, u.User.String()+"@", "")
	}
	return errors.New(msg)
}

// URL is the repository's address, for display.
func (r *Repo) URL() string { return r.opts.URL }

// Path is the directory followed inside the repository ("" for all).
func (r *Repo) Path() string { return r.opts.Path }

func (r *Repo) lock() (func(), error) {
	f, err := os.OpenFile(r.dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("git cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("git cache lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// openCache opens the bare clone, creating it when missing and recreating
// it when it cannot be opened (a crash mid-write, a half-deleted cache).
func (r *Repo) openCache() error {
	repo, err := gogit.PlainOpen(r.dir)
	if err == nil {
		if rem, rerr := repo.Remote("origin"); rerr == nil && len(rem.Config().URLs) == 1 && rem.Config().URLs[0] == r.opts.URL {
			r.repo = repo
			return nil
		}
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("git cache: %w", err)
	}
	repo, err = gogit.PlainInit(r.dir, true)
	if err != nil {
		return fmt.Errorf("git cache: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.opts.URL}}); err != nil {
		return fmt.Errorf("git cache: %w", err)
	}
	r.repo = repo
	return nil
}

func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// auth builds the transport's credentials from the files.
func (r *Repo) auth() (transport.AuthMethod, error) {
	a := r.opts.Auth
	ep, err := transport.NewEndpoint(r.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("repository URL: %v", redactErr(err, r.opts.URL))
	}
	isHTTP := ep.Protocol == "http" || ep.Protocol == "https"
	switch {
	case a.PasswordFile != "" || a.TokenFile != "":
		if !isHTTP {
			return nil, errors.New("a password or token file is for https URLs; for ssh give --git-ssh-key-file")
		}
		if a.TokenFile != "" {
			tok, err := readSecret(a.TokenFile)
			if err != nil {
				return nil, err
			}
			return &githttp.TokenAuth{Token: tok}, nil
		}
		pw, err := readSecret(a.PasswordFile)
		if err != nil {
			return nil, err
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: pw}, nil
	case ep.Protocol == "ssh":
		if a.KnownHostsFile == "" {
			return nil, errors.New("ssh needs --git-known-hosts-file (the server's key is checked against it; ssh-keyscan HOST > FILE makes one)")
		}
		check, err := knownhosts.New(a.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		if a.SSHKeyFile == "" {
			return nil, errors.New("ssh needs --git-ssh-key-file")
		}
		pass := ""
		if a.SSHKeyPassphraseFile != "" {
			if pass, err = readSecret(a.SSHKeyPassphraseFile); err != nil {
				return nil, err
			}
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, pass)
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
		}
		keys.HostKeyCallback = check
		return keys, nil
	case a.SSHKeyFile != "":
		return nil, errors.New("an ssh key is for ssh URLs (ssh://... or git@host:path)")
	}
	return nil, nil
}

// target is what the ref resolves to on the remote.
type target struct {
	name  plumbing.ReferenceName // refs/heads/main, refs/tags/v1; empty for a commit
	short string                 // main, v1
	hash  plumbing.Hash          // what the ref points at (a tag object for annotated tags)
}

// Sync asks the remote where the ref points, fetches that commit if the
// cache lacks it, and returns the manifests there. Errors say what failed
// (unreachable, no such branch, path missing at the revision); the caller
// keeps the last good snapshot.
func (r *Repo) Sync(ctx context.Context) (*Snapshot, error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	auth, err := r.auth()
	if err != nil {
		return nil, err
	}
	t, err := r.resolveRemote(ctx, auth)
	if err != nil {
		return nil, err
	}
	if t.name == "" {
		return r.syncCommit(ctx, auth, t)
	}
	if !r.has(t.hash) {
		spec := config.RefSpec(fmt.Sprintf("+%s:%s", t.name, t.name))
		if err := r.fetch(ctx, auth, []config.RefSpec{spec}, r.opts.Depth); err != nil {
			return nil, err
		}
	} else if err := r.repo.Storer.SetReference(plumbing.NewHashReference(t.name, t.hash)); err != nil {
		return nil, fmt.Errorf("git cache: %w", err)
	}
	commit, err := r.commitOf(t.hash)
	if err != nil {
		return nil, err
	}
	return r.remember(r.snapshot(Revision{Ref: t.short, Hash: commit.Hash.String()}, commit))
}

// remember records a snapshot read without error as the last synced.
func (r *Repo) remember(s *Snapshot, err error) (*Snapshot, error) {
	if err != nil {
		return nil, err
	}
	return s, r.saveSynced(s.Revision)
}

// syncCommit fetches every branch and tag until the pinned commit is in the
// cache; once it is, a pinned commit never changes, so no more fetches.
func (r *Repo) syncCommit(ctx context.Context, auth transport.AuthMethod, t target) (*Snapshot, error) {
	commit, err := r.resolveLocalCommit(r.opts.Ref)
	if err != nil {
		specs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
		if err := r.fetch(ctx, auth, specs, 0); err != nil {
			return nil, err
		}
		if commit, err = r.resolveLocalCommit(r.opts.Ref); err != nil {
			return nil, fmt.Errorf("commit %s is on no branch or tag of %s", r.opts.Ref, r.opts.URL)
		}
	}
	return r.remember(r.snapshot(Revision{Hash: commit.Hash.String()}, commit))
}

func (r *Repo) resolveLocalCommit(prefix string) (*object.Commit, error) {
	h, err := r.repo.ResolveRevision(plumbing.Revision(prefix))
	if err != nil {
		return nil, err
	}
	return r.repo.CommitObject(*h)
}

func (r *Repo) fetch(ctx context.Context, auth transport.AuthMethod, specs []config.RefSpec, depth int) error {
	err := r.repo.FetchContext(ctx, &gogit.FetchOptions{RemoteName: "origin", RefSpecs: specs, Depth: depth, Auth: auth, Tags: gogit.NoTags, Force: true})
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %v", r.opts.URL, redactErr(err, r.opts.URL))
	}
	return nil
}

func (r *Repo) has(h plumbing.Hash) bool {
	_, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, h)
	return err == nil
}

// commitOf peels annotated tags down to their commit.
func (r *Repo) commitOf(h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		if tag, err := r.repo.TagObject(h); err == nil {
			h = tag.Target
			continue
		}
		c, err := r.repo.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("git cache: commit %s: %w", h, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("tag %s: nested too deep", h)
}

// resolveRemote lists the remote's refs (git ls-remote) and finds Ref
// among them: the default branch, a full ref, a branch, a tag, else a
// commit.
func (r *Repo) resolveRemote(ctx context.Context, auth transport.AuthMethod) (target, error) {
	rem, err := r.repo.Remote("origin")
	if err != nil {
		return target{}, fmt.Errorf("git cache: %w", err)
	}
	refs, err := rem.ListContext(ctx, &gogit.ListOptions{Auth: auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return target{}, fmt.Errorf("%s is an empty repository: no commit to follow", r.opts.URL)
		}
		return target{}, fmt.Errorf("list refs of %s: %v", r.opts.URL, redactErr(err, r.opts.URL))
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, ref := range refs {
		byName[ref.Name()] = ref
	}
	find := func(name plumbing.ReferenceName) (target, bool) {
		ref, ok := byName[name]
		if !ok || ref.Type() != plumbing.HashReference {
			return target{}, false
		}
		return target{name: name, short: name.Short(), hash: ref.Hash()}, true
	}
	want := r.opts.Ref
	if want == "" {
		head, ok := byName[plumbing.HEAD]
		if !ok || head.Type() != plumbing.SymbolicReference {
			return target{}, fmt.Errorf("%s does not say which branch is its default: give the branch", r.opts.URL)
		}
		if t, ok := find(head.Target()); ok {
			return t, nil
		}
		return target{}, fmt.Errorf("the default branch %s of %s has no commit", head.Target().Short(), r.opts.URL)
	}
	if strings.HasPrefix(want, "refs/") {
		if t, ok := find(plumbing.ReferenceName(want)); ok {
			return t, nil
		}
		return target{}, fmt.Errorf("%s has no %s", r.opts.URL, want)
	}
	for _, name := range []plumbing.ReferenceName{plumbing.NewBranchReferenceName(want), plumbing.NewTagReferenceName(want)} {
		if t, ok := find(name); ok {
			return t, nil
		}
	}
	if hexRef.MatchString(strings.ToLower(want)) {
		return target{}, nil // a commit
	}
	return target{}, fmt.Errorf("%s has no branch or tag %q (a removed branch? the last good revision stays in force)", r.opts.URL, want)
}

// Cached returns the manifests of the revision this cache last synced
// without error, without the network: what to follow when the remote
// cannot be reached at start.
func (r *Repo) Cached() (*Snapshot, error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rev, ok := r.synced()[r.opts.Ref]
	if !ok {
		return nil, fmt.Errorf("no revision of %s synced into %s yet", orDefault(r.opts.Ref, "the default branch"), r.dir)
	}
	commit, err := r.repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		return nil, fmt.Errorf("git cache: %s: %w", rev, err)
	}
	return r.snapshot(rev, commit)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// synced reads the revisions last synced into this cache, by Options.Ref.
func (r *Repo) synced() map[string]Revision {
	m := map[string]Revision{}
	if b, err := os.ReadFile(r.syncedFile()); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (r *Repo) syncedFile() string { return filepath.Join(r.dir, "reconciler-synced.json") }

// saveSynced records the revision as the last one synced for Options.Ref
// (written whole, then renamed into place).
func (r *Repo) saveSynced(rev Revision) error {
	m := r.synced()
	if m[r.opts.Ref] == rev {
		return nil
	}
	m[r.opts.Ref] = rev
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := r.syncedFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("git cache: %w", err)
	}
	return os.Rename(tmp, r.syncedFile())
}

// snapshot reads the manifests of the commit's tree under Path.
func (r *Repo) snapshot(rev Revision, commit *object.Commit) (*Snapshot, error) {
	root, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("git cache: tree of %s: %w", rev, err)
	}
	tree := root
	if r.opts.Path != "" {
		tree, err = root.Tree(r.opts.Path)
		if err != nil {
			return nil, fmt.Errorf("%s does not exist at %s (a path renamed or removed? the last good revision stays in force)", r.opts.Path+"/", rev)
		}
	}
	s := &Snapshot{Revision: rev}
	if r.last != plumbing.ZeroHash && r.last != commit.Hash {
		s.Previous = Revision{Ref: rev.Ref, Hash: r.last.String()}
		if prev, err := r.repo.CommitObject(r.last); err == nil {
			if ok, err := prev.IsAncestor(commit); err == nil && !ok {
				s.Rewritten = true
			}
		}
	}
	fail := func(name, format string, args ...any) {
		s.Problems = append(s.Problems, v1.Problem{Pos: v1.Position{File: name}, Message: fmt.Sprintf(format, args...)})
	}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("git cache: reading %s: %w", rev, err)
		}
		if hidden(name) || !entry.Mode.IsFile() || !source.IsManifestName(name) {
			continue
		}
		full := path.Join(r.opts.Path, name)
		blobHash := entry.Hash
		if entry.Mode == filemode.Symlink {
			h, err := r.followLink(root, full, entry.Hash)
			if err != nil {
				fail(full, "%v", err)
				continue
			}
			blobHash = h
		}
		data, err := r.readBlob(blobHash)
		if err != nil {
			fail(full, "%v", err)
			continue
		}
		s.Files = append(s.Files, v1.File{Name: full, Data: data})
	}
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Name < s.Files[j].Name })
	r.last = commit.Hash
	return s, nil
}

// followLink resolves a symbolic link to a file elsewhere in the
// repository (one hop; links out of the repository are not followed).
func (r *Repo) followLink(root *object.Tree, name string, h plumbing.Hash) (plumbing.Hash, error) {
	data, err := r.readBlob(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	dest := string(data)
	if path.IsAbs(dest) {
		return plumbing.ZeroHash, fmt.Errorf("symbolic link to %s leads out of the repository: not read", dest)
	}
	resolved := path.Join(path.Dir(name), dest)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return plumbing.ZeroHash, fmt.Errorf("symbolic link to %s leads out of the repository: not read", dest)
	}
	entry, err := root.FindEntry(resolved)
	if err != nil || entry.Mode == filemode.Symlink || !entry.Mode.IsFile() {
		return plumbing.ZeroHash, fmt.Errorf("symbolic link to %s: not a file of the repository", dest)
	}
	return entry.Hash, nil
}

func (r *Repo) readBlob(h plumbing.Hash) ([]byte, error) {
	blob, err := r.repo.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("git cache: %w", err)
	}
	if blob.Size > v1.MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB; manifest files are limited to that size: split it", v1.MaxFileSize>>20)
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("git cache: %w", err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func hidden(name string) bool {
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}
