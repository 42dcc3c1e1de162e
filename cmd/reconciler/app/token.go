package app

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The control endpoints of run (run-now, rerun, delete) change the
// cluster: each call must carry the bearer token kept in a file
// (--api-token-file, $RECONCILER_API_TOKEN_FILE, else next to the default
// store), which run creates when it does not exist yet; the CLI's
// --server sends it. A call from another site (a form on some web page the
// operator visits) is refused whatever it carries.

const tokenEnv = "RECONCILER_API_TOKEN_FILE"

// tokenPath is where the API token is: the flag, the variable, else the
// state directory's api-token.
func tokenPath(flag string) string {
	if p := firstOf(flag, os.Getenv(tokenEnv)); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(strings.TrimPrefix(defaultStore(), "bolt:")), "api-token")
}

// readToken reads the token file: its first line.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if len(tok) < 16 {
		return "", fmt.Errorf("%s holds no token of at least 16 characters", path)
	}
	return tok, nil
}

// ensureToken reads the token file, or creates it (mode 0600) with a
// random token when it does not exist.
func ensureToken(path string) (string, error) {
	tok, err := readToken(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok = hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return readToken(path) // another run made it meanwhile
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, tok)
	return tok, err
}

// guarded lets a control call through only with the bearer token and from
// no other site: a browser marks a cross-site request (Sec-Fetch-Site) or
// names the page it comes from (Origin); a CLI sends neither.
func guarded(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch site := r.Header.Get("Sec-Fetch-Site"); site {
		case "", "same-origin", "none":
		default:
			http.Error(w, "refused: a "+site+" request (control calls come from the CLI or the same origin)", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				http.Error(w, "refused: a request from another origin ("+o+")", http.StatusForbidden)
				return
			}
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reconciler"`)
			http.Error(w, "unauthorized: send the API token (--api-token-file) as Authorization: Bearer", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
