package app

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/render"
)

type renderOptions struct {
	output          string
	kind            string
	name            string
	owner           string
	scheduleSeconds bool
}

var renderFormats = render.Formats

func newRenderCommand(streams Streams) *cobra.Command {
	var o renderOptions
	cmd := &cobra.Command{
		Use:   "render PATH...",
		Short: "Show the exact launch specs manifests imply, secrets redacted",
		Long: `render prints, without contacting any cluster, exactly what would be sent for each
object: for a SparkApplication the dispatcher's REST CreateSubmissionRequest and
its URL, the Spark properties, the equivalent spark-submit command, and what
Spark will make of it (driver configuration after the dispatcher's
driverDefaults, memory overheads, executor count, reject-offer durations); for
a Dispatcher or ShuffleService its properties and the Mesos TaskInfo that runs
it.

Secret values never appear: they show as <redacted:SOURCE>; in -o submit they
become shell expansions of their source ("${VAR}", "$(cat FILE)").

Output formats (-o):
  yaml, json   everything, one document per object
  request      the REST request body sent to /v1/submissions/create
  submit       the equivalent spark-submit command line
  properties   key=value lines
  conf         spark-defaults.conf

Output is deterministic: objects in kind then name order, keys sorted.
Problems go to standard error. Exit codes: 0 success, 2 invalid input.`,
		Example: `  reconciler render examples/manifests -o submit --name etl-nightly
  reconciler render app.yaml -o request | curl -X POST -d @- http://dispatcher:7077/v1/submissions/create`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRender(streams, args, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "yaml", "output format: "+strings.Join(renderFormats, ", "))
	cmd.Flags().StringVar(&o.kind, "kind", "", "render only objects of this kind")
	cmd.Flags().StringVar(&o.name, "name", "", "render only objects of this name")
	cmd.Flags().StringVar(&o.owner, "owner", render.DefaultOwner, "owner written into ownership labels")
	registerScheduleSeconds(cmd, &o.scheduleSeconds)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(renderFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(v1.Kinds, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runRender(streams Streams, paths []string, o renderOptions) error {
	if !slices.Contains(renderFormats, o.output) {
		return &exitError{code: ExitInvalid, msg: "bad output"}
	}
	m, _, loadErr := loadManifests(streams, streams.Err, paths, false, v1.LoadOptions{ScheduleSeconds: o.scheduleSeconds})
	kind := o.kind
	if o.output == "request" && kind == "" && o.name == "" {
		kind = v1.KindSparkApplication // only applications have one
	}
	objs := selectObjects(m.Objects, kind, o.name)
	if len(objs) == 0 && loadErr == nil {
		fmt.Fprintln(streams.Err, "reconciler: no object matches")
		return &exitError{code: ExitInvalid}
	}
	opts := render.Options{Owner: o.owner}
	var out bytes.Buffer
	for i, obj := range objs {
		if err := renderObject(&out, i, obj, m, o.output, opts); err != nil {
			fmt.Fprintf(streams.Err, "%s: %s: %v\n", obj.Origin().Position(nil), v1.RefOf(obj), err)
			loadErr = &exitError{code: ExitInvalid}
		}
	}
	_, _ = streams.Out.Write(out.Bytes())
	return loadErr
}

func selectObjects(objs []v1.Object, kind, name string) []v1.Object {
	rank := map[string]int{}
	for i, k := range v1.Kinds {
		rank[k] = i
	}
	var out []v1.Object
	for _, o := range objs {
		if (kind == "" || strings.EqualFold(o.GetKind(), kind)) && (name == "" || o.GetName() == name) {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := rank[out[i].GetKind()], rank[out[j].GetKind()]; a != b {
			return a < b
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out
}

func renderObject(w io.Writer, i int, obj v1.Object, m *v1.Manifests, format string, opts render.Options) error {
	r, err := render.Object(obj, m, opts)
	if err != nil {
		return err
	}
	b, err := r.Format(format)
	if err != nil {
		return err
	}
	if format == "yaml" && i > 0 {
		fmt.Fprintln(w, "---")
	}
	_, err = w.Write(b)
	return err
}
