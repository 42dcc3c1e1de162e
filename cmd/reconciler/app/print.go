package app

import (
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
	for _, e := range p.Entries() {
		// Every application is counted (a schedule's runs included);
		// other kinds when they change or are blocked, and a schedule
		// when it skips times.
		schedule := e.Kind == v1.KindScheduledSparkApplication
		switch {
		case e.Kind == v1.KindSparkApplication, e.Type == reconcile.ActionBlocked, schedule && e.Type == reconcile.ActionSkip,
			!schedule && e.Type.Changes(), schedule && e.Type == reconcile.ActionPrune:
			counts[e.Type]++
		}
		if e.Type == reconcile.ActionUnchanged && !verbose && !schedule {
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
		} else if out.Detail != "" {
			fmt.Fprintf(w, "  done:  %s %s: %s\n", out.Type(), out.Target(), out.Detail)
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
