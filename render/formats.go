package render

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

// SubmitArgs returns the spark-submit argv equivalent to the application's
// submission. Secret values stay placeholders; ShellCommand turns them into
// shell expansions of their sources.
func SubmitArgs(a *Application) []string {
	props := a.Request.SparkProperties
	argv := []string{"spark-submit",
		"--master", props["spark.master"],
		"--deploy-mode", "cluster",
		"--name", props["spark.app.name"],
	}
	if a.Request.MainClass != "" {
		argv = append(argv, "--class", a.Request.MainClass)
	}
	for _, k := range sortedKeys(props) {
		switch k {
		case "spark.master", "spark.submit.deployMode", "spark.app.name":
			continue
		}
		argv = append(argv, "--conf", k+"="+props[k])
	}
	argv = append(argv, a.Request.AppResource)
	return append(argv, a.Request.AppArgs...)
}

var placeholder = regexp.MustCompile(`<redacted:(env|file|inline):?([^>]*)>`)

// ShellCommand renders argv as one POSIX shell command line that runs as
// printed. A word holding a secret placeholder expands the secret's source
// instead: "$NAME" for an environment variable, "$(cat 'PATH')" for a file;
// an inline secret stays a placeholder (it is never printed).
func ShellCommand(argv []string) string {
	words := make([]string, len(argv))
	for i, w := range argv {
		if strings.Contains(w, "<redacted:") && placeholder.MatchString(w) {
			words[i] = expandWord(w)
		} else {
			words[i] = shellQuote(w)
		}
	}
	// One option and its value per line.
	var lines []string
	for i := 0; i < len(words); i++ {
		if strings.HasPrefix(argv[i], "--") && i+1 < len(words) {
			lines = append(lines, words[i]+" "+words[i+1])
			i++
			continue
		}
		if i > 0 && !strings.HasPrefix(argv[i-1], "--") && len(lines) > 1 && !strings.HasPrefix(lines[len(lines)-1], "--") {
			lines[len(lines)-1] += " " + words[i] // the application's arguments, on its line
			continue
		}
		lines = append(lines, words[i])
	}
	return strings.Join(lines, " \\\n  ")
}

func expandWord(w string) string {
	var b strings.Builder
	b.WriteByte('"')
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(w, -1) {
		b.WriteString(dquoteEscape(w[last:m[0]]))
		kind, arg := w[m[2]:m[3]], w[m[4]:m[5]]
		switch kind {
		case "env":
			b.WriteString("${" + arg + "}")
		case "file":
			b.WriteString("$(cat " + shellQuote(arg) + ")")
		default:
			b.WriteString(dquoteEscape(w[m[0]:m[1]]))
		}
		last = m[1]
	}
	b.WriteString(dquoteEscape(w[last:]))
	b.WriteByte('"')
	return b.String()
}

func dquoteEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return r.Replace(s)
}

// shellSafe reports whether s needs no quoting: letters, digits and _@%+=:,./-.
func shellSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_@%+=:,./-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func shellQuote(s string) string {
	if shellSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// PropertiesText renders properties as sorted key=value lines.
func PropertiesText(props map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(&b, "%s=%s\n", propertiesEscape(k, true), propertiesEscape(props[k], false))
	}
	return b.String()
}

// propertiesEscape writes a key or value so that java.util.Properties.load
// (how Spark reads --properties-file and spark-defaults.conf, as UTF-8)
// reads it back unchanged: a backslash is itself escaped (else Spark's
// label escapes \: and \, would be eaten, "note:a\,b" becoming
// "Malformed label: b"), line breaks and tabs are escaped, a leading space
// or a leading # or ! is protected, and in a key the separators = : and
// white space are escaped.
func propertiesEscape(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case (r == '#' || r == '!') && i == 0:
			b.WriteRune('\\')
			b.WriteRune(r)
		case key && (r == '=' || r == ':'):
			b.WriteRune('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// DefaultsConf renders properties in spark-defaults.conf form: sorted, key
// and value separated by white space.
func DefaultsConf(props map[string]string) string {
	width := 0
	for k := range props {
		width = max(width, len(k))
	}
	var b strings.Builder
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(&b, "%-*s  %s\n", width, propertiesEscape(k, true), propertiesEscape(props[k], false))
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the value of a secret from its source. The executor passes
// one that reads the environment and files; tests pass fakes.
type Lookup func(v1.ValueSource) (string, error)

// value reads the secret: inline, from the environment verbatim, or a
// file's content without its trailing newlines — as the printed command's
// "$(cat FILE)" reads it, so that what apply sends is what the printed
// command sends (an editor's final newline is not part of a password).
func (s SecretRef) value(lookup Lookup) (string, error) {
	if s.Inline {
		return s.inline, nil
	}
	v, err := lookup(*s.From)
	if err != nil {
		return "", fmt.Errorf("secret for %s from %s: %w", s.Property, s.Source, err)
	}
	if s.From.File != "" {
		v = strings.TrimRight(v, "\n")
	}
	return v, nil
}

// SecretDigest is a keyed digest (HMAC-SHA256) of the values of the
// application's secrets, so that a change of a value can be noticed
// without ever keeping the value, or an unkeyed hash a low-entropy secret
// could be guessed from. "" when it has no secret or one cannot be read.
func SecretDigest(a *Application, key []byte, lookup Lookup) string {
	if len(a.Secrets) == 0 || len(key) == 0 {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	for _, ref := range a.Secrets {
		v, err := ref.value(lookup)
		if err != nil {
			return ""
		}
		fmt.Fprintf(mac, "%s[%d]=%d:%s;", ref.Property, ref.Index, len(v), v)
	}
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

// Resolve returns a copy of the request with every secret placeholder
// replaced by its value, for the executor that really submits. The result
// must never be printed, logged or stored.
func Resolve(a *Application, lookup Lookup) (CreateSubmissionRequest, error) {
	req := a.Request
	props := make(map[string]string, len(req.SparkProperties))
	for k, v := range req.SparkProperties {
		props[k] = v
	}
	for _, ref := range a.Secrets {
		value, err := ref.value(lookup)
		if err != nil {
			return CreateSubmissionRequest{}, err
		}
		if strings.Contains(value, ",") && strings.Contains(ref.Property, ".secret.values") {
			return CreateSubmissionRequest{}, fmt.Errorf("secret for %s from %s contains ',', which Spark would split", ref.Property, ref.Source)
		}
		items := []string{props[ref.Property]}
		if strings.Contains(ref.Property, ".secret.values") {
			items = strings.Split(props[ref.Property], ",")
		}
		if ref.Index >= len(items) || items[ref.Index] != ref.Placeholder() {
			return CreateSubmissionRequest{}, fmt.Errorf("secret placeholder for %s[%d] not found", ref.Property, ref.Index)
		}
		items[ref.Index] = value
		props[ref.Property] = strings.Join(items, ",")
	}
	req.SparkProperties = props
	return req, nil
}
