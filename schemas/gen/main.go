// Command gen writes schemas/*.json and docs/manifest-reference.md from the
// api/v1 types. Run it from the repository root: make schemas.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sparkmesos/reconciler/schemas"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	files, err := schemas.Generate()
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("schemas", name), b, 0o644); err != nil {
			return err
		}
	}
	ref, err := schemas.Reference()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join("docs", "manifest-reference.md"), ref, 0o644)
}
