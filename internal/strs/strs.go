// Package strs holds one copy of the strings that many values repeat.
//
// The standard library's unique package does not do this for a caller that
// keeps only the strings: once no unique.Handle is left, its entry is
// dropped at the next collection, and the same string made again is a new
// copy. A Pool keeps its strings for as long as the Pool is kept, so it
// belongs to the structure whose strings it holds (a view, a cache) and
// goes with it.
package strs

// Pool is a set of canonical strings. The zero Pool is ready to use; a nil
// Pool interns nothing. It is not safe for concurrent use.
type Pool struct {
	m map[string]string
}

// Intern is the Pool's copy of s, which becomes s when the Pool has none.
func (p *Pool) Intern(s string) string {
	if p == nil || s == "" {
		return s
	}
	if c, ok := p.m[s]; ok {
		return c
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[s] = s
	return s
}

// Len is the number of strings held.
func (p *Pool) Len() int {
	if p == nil {
		return 0
	}
	return len(p.m)
}
