package app

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/source"
)

type validateOptions struct {
	noWarnings      bool
	scheduleSeconds bool
	output          string
}

func newValidateCommand(streams Streams) *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check manifests offline and print every problem as file:line:col",
		Long: `validate reads manifests and checks them without contacting any cluster: strict
YAML (unknown fields, duplicate keys and wrong types are errors), each field's
grammar (Spark byte sizes, constraints, labels, volumes, secrets...), names
unique per kind, and references between objects (an application's dispatcher,
queue and shuffle service must be among the loaded manifests).

Every problem is printed at once, one per line:
  file:line:col: field.path: message
Warnings are printed as such and do not fail validation.

Exit codes: 0 valid (warnings allowed), 2 invalid or unreadable.`,
		Example: `  reconciler validate examples/manifests
  cat app.yaml | reconciler validate -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(streams, args, o)
		},
	}
	cmd.Flags().BoolVar(&o.noWarnings, "no-warnings", false, "do not print warnings")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text (file:line:col: message lines) or json (every problem with file, line, column, field path, severity and message)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	registerScheduleSeconds(cmd, &o.scheduleSeconds)
	return cmd
}

// loadManifests reads and validates paths, printing every problem to w.
// It returns the valid manifests and an exit error when there was any error.
func loadManifests(streams Streams, w io.Writer, paths []string, warnings bool, lo v1.LoadOptions) (*v1.Manifests, v1.Problems, error) {
	files, readProblems := source.Read(paths, streams.In)
	m, problems := v1.LoadWith(files, lo)
	problems = append(readProblems, problems...)
	problems.Sort()
	for _, p := range problems {
		if p.Severity == v1.SeverityWarning && !warnings {
			continue
		}
		fmt.Fprintln(w, p.Error())
	}
	if n := len(problems.Errors()); n > 0 {
		return m, problems, &exitError{code: ExitInvalid, msg: fmt.Sprintf("%d errors", n)}
	}
	return m, problems, nil
}

func runValidate(streams Streams, paths []string, o validateOptions) error {
	lo := v1.LoadOptions{ScheduleSeconds: o.scheduleSeconds}
	switch o.output {
	case "text":
	case "json":
		return validateJSON(streams, paths, o, lo)
	default:
		return invalid(fmt.Errorf("--output %q: use text or json", o.output))
	}
	m, problems, err := loadManifests(streams, streams.Out, paths, !o.noWarnings, lo)
	errs, warns := len(problems.Errors()), len(problems.Warnings())
	fmt.Fprintf(streams.Err, "%s, %s; %s valid\n", plural(errs, "error"), plural(warns, "warning"), plural(len(m.Objects), "object"))
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// validateJSON prints every problem as JSON: {valid, errors, warnings,
// problems: [{file, line, column, path, severity, message}]}.
func validateJSON(streams Streams, paths []string, o validateOptions, lo v1.LoadOptions) error {
	m, problems, err := loadManifests(streams, io.Discard, paths, false, lo)
	if o.noWarnings {
		problems = problems.Errors()
	}
	out := struct {
		Valid    int           `json:"valid"`
		Errors   int           `json:"errors"`
		Warnings int           `json:"warnings"`
		Problems []problemJSON `json:"problems"`
	}{len(m.Objects), len(problems.Errors()), len(problems.Warnings()), problemsJSON(problems)}
	b, jerr := json.MarshalIndent(out, "", "  ")
	if jerr != nil {
		return jerr
	}
	_, _ = streams.Out.Write(append(b, '\n'))
	return err
}
