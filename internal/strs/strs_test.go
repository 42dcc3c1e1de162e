package strs

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// The same string interned across collections is one copy.
func TestPoolKeepsOneCopy(t *testing.T) {
	var p Pool
	first := p.Intern(strings.Repeat("ab", 20))
	for range 5 {
		runtime.GC()
		if s := p.Intern(strings.Repeat("ab", 20)); unsafe.StringData(s) != unsafe.StringData(first) {
			t.Fatalf("a second copy of %q after a collection", s)
		}
	}
	if p.Intern("other") != "other" || p.Len() != 2 {
		t.Errorf("the pool holds %d strings, want 2", p.Len())
	}
	var none *Pool
	if none.Intern("x") != "x" || none.Len() != 0 || p.Intern("") != "" || p.Len() != 2 {
		t.Error("a nil pool or an empty string must pass through, holding nothing")
	}
}
