package v1

import (
	"fmt"
	"strings"
	"testing"
)

// TestWideMergeIsBounded is the fuzzer's find: a merge of thousands of
// aliases of a large mapping expanded quadratically (4.5 s for 40 KB). The
// node budget now covers merged pairs, so it fails fast with a clear error.
func TestWideMergeIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: x}\nspec:\n  x: &a {")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("z: 1}\n  sparkConf: {<<: [")
	for i := 0; i < 3000; i++ {
		b.WriteString("*a, ")
	}
	b.WriteString("*a]}\n")
	_, problems := Load([]File{{Name: "merge.yaml", Data: []byte(b.String())}})
	err := problems.Err()
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("got %v, want the expansion limit error", err)
	}
}
