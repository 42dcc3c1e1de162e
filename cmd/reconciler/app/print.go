package app

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/reconcile"
)

var symbols = map[reconcile.ActionType]string{
	reconcile.ActionSubmit: "+", reconcile.ActionRestart: "+", reconcile.ActionResubmit: "~",
	reconcile.ActionKill: "-", reconcile.ActionPrune: "-", reconcile.ActionBlocked: "!",
	reconcile.ActionHold: "?", reconcile.ActionAdopt: "=", reconcile.ActionUnchanged: " ",
	reconcile.ActionLaunch: "+", reconcile.ActionRoll: "~", reconcile.ActionUpdate: "~",
	reconcile.ActionSkip: ".",
}

// printPlan writes the plan Terraform-style, one line an action, changed
// properties under a resubmission, and a summary. Unchanged objects are
// listed only when verbose, except schedules, which show their next times.
func printPlan(w io.Writer, p reconcile.Plan, verbose bool) {
	counts := map[reconcile.ActionType]int{}
	for e := range p.Entries() {
		// Every entry printed is counted, and every application (a
		// schedule's runs included); a schedule's submit is its runs'.
		schedule := e.Kind == v1.KindScheduledSparkApplication
		printed := e.Type != reconcile.ActionUnchanged || verbose || schedule
		if (printed || e.Kind == v1.KindSparkApplication) && !(schedule && e.Type == reconcile.ActionSubmit) {
			counts[e.Type]++
		}
		if !printed {
			continue
		}
		fmt.Fprintf(w, "%s %-9s %-24s %s\n", symbols[e.Type], e.Type, e.Target(), e.Reason)
		if len(e.Agents) > 0 {
			fmt.Fprintf(w, "      agents: %s\n", strings.Join(e.Agents, ", "))
		}
		for _, c := range e.Changes {
			fmt.Fprintf(w, "      %s: %s -> %s\n", c.Key, orDash(c.Old), orDash(c.New))
		}
	}
	var parts []string
	for _, t := range []reconcile.ActionType{reconcile.ActionUpdate, reconcile.ActionLaunch, reconcile.ActionRoll, reconcile.ActionSubmit, reconcile.ActionResubmit, reconcile.ActionRestart, reconcile.ActionKill, reconcile.ActionPrune, reconcile.ActionAdopt, reconcile.ActionHold, reconcile.ActionSkip, reconcile.ActionBlocked, reconcile.ActionUnchanged} {
		if counts[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing"}
	}
	fmt.Fprintf(w, "Plan: %s.\n", strings.Join(parts, ", "))
}

// printPass prints apply's progress: the plan of the first pass (and of a
// later one that changes something), then what became of each action.
func printPass(w io.Writer, pass int, res reconcile.PassResult) {
	changes := 0 // of applications and roles: apply leaves services to run
	for _, a := range res.Plan.Actions {
		if a.Type.Changes() {
			changes++
		}
	}
	for _, a := range res.Plan.Roles {
		if a.Type.Changes() {
			changes++
		}
	}
	if pass == 0 || changes > 0 {
		printPlan(w, res.Plan, false)
	}
	if pass == 0 {
		for _, a := range res.Plan.Services {
			if a.Type.Changes() {
				fmt.Fprintln(w, "note: service tasks (ShuffleService) are launched, rolled and killed by the Mesos framework of `reconciler run`; apply does not change them.")
				break
			}
		}
	}
	for _, out := range res.Outcomes {
		if out.Err != nil {
			fmt.Fprintf(w, "  error: %s %s: %v\n", out.Type(), out.Target(), out.Err)
		} else if detail := out.Detail; detail != "" || out.Role != nil && out.Type().Changes() {
			if detail == "" {
				detail = out.Role.Reason
			}
			fmt.Fprintf(w, "  done:  %s %s: %s\n", out.Type(), out.Target(), detail)
		}
	}
}

func printPhases(w io.Writer, p reconcile.Plan) {
	phases := map[string]string{}
	var names []string
	for _, a := range p.Actions {
		if _, seen := phases[a.App]; !seen {
			names = append(names, a.App)
		}
		phases[a.App] = a.Phase
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %s\n", n, phases[n])
	}
}

// planJSON is diff -o json: the plan as data.
type planJSON struct {
	// Changes counts the actions that change the cluster.
	Changes  int            `json:"changes"`
	Revision string         `json:"revision,omitempty"`
	Entries  []entryJSON    `json:"entries"`
	Problems []problemJSON  `json:"problems"`
	Counts   map[string]int `json:"counts"`
}

type entryJSON struct {
	Kind    string       `json:"kind"`
	Name    string       `json:"name"`
	Action  string       `json:"action"`
	Changes bool         `json:"changesCluster"`
	Reason  string       `json:"reason"`
	Phase   string       `json:"phase,omitempty"`
	Agents  []string     `json:"agents,omitempty"`
	Props   []changeJSON `json:"properties,omitempty"`
}

type changeJSON struct {
	Key string `json:"key"`
	Old string `json:"old"`
	New string `json:"new"`
}

// problemJSON is one manifest problem, for validate -o json and diff -o
// json.
type problemJSON struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

func problemsJSON(ps v1.Problems) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		sev := "error"
		if p.Severity == v1.SeverityWarning {
			sev = "warning"
		}
		out = append(out, problemJSON{File: p.Pos.File, Line: p.Pos.Line, Column: p.Pos.Column, Path: p.Path.String(), Severity: sev, Message: p.Message})
	}
	return out
}

func writePlanJSON(w io.Writer, p reconcile.Plan, d *reconcile.Desired, problems v1.Problems) error {
	out := planJSON{Changes: p.Changes(), Revision: d.Revision, Entries: []entryJSON{}, Problems: problemsJSON(problems.Errors()), Counts: map[string]int{}}
	for e := range p.Entries() {
		je := entryJSON{Kind: e.Kind, Name: e.Name, Action: string(e.Type), Changes: e.Type.Changes() && e.Kind != v1.KindScheduledSparkApplication,
			Reason: e.Reason, Phase: e.Phase, Agents: e.Agents}
		for _, c := range e.Changes {
			je.Props = append(je.Props, changeJSON{Key: c.Key, Old: c.Old, New: c.New})
		}
		out.Entries = append(out.Entries, je)
		out.Counts[string(e.Type)]++
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
