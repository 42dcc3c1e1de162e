package reconcile

import (
	"fmt"
	"math/rand"
	"testing"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
)

// TestPlanEveryKindProperties is a property test over applications,
// shuffle services and roles together, with files that fail to load and
// stores that were lost. For every random state: planning and applying the
// plan in a model, again and again, settles within a pass per agent (a
// roll replaces one agent's task a pass) and then changes nothing; nothing
// whose file failed to load (or of unknown origin while a file is broken)
// is killed, rolled, pruned or reset; roles the reconciler does not own
// are never touched; nothing is pruned without --prune.
func TestPlanEveryKindProperties(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	apps := []*DesiredApp{app(t, "a", ""), app(t, "b", "  driver: {memory: 2g}\n")}
	shuffle := shuffleService(t, "shuffle", "", "1g")
	roleEtl := &DesiredRole{Name: "etl", Role: "etl", Weight: 3, Quota: mesos.RoleQuota{Limits: map[string]float64{"cpus": 8}}, File: "etl.yaml"}
	roleAdhoc := &DesiredRole{Name: "adhoc", Role: "adhoc", Weight: 0.5, File: "adhoc.yaml"}
	agentIDs := []string{"S0", "S1", "S2"}
	for round := 0; round < 500; round++ {
		files := map[string]bool{} // the files that fail to load this round
		for _, f := range []string{"a.yaml", "b.yaml", "shuffle.yaml", "etl.yaml", "adhoc.yaml"} {
			if rnd.Intn(5) == 0 {
				files[f] = true
			}
		}
		d := &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: files}
		for _, a := range apps {
			if !files[a.File] && rnd.Intn(4) > 0 {
				d.Apps[a.Name] = a
			}
		}
		if !files[shuffle.File] && rnd.Intn(4) > 0 {
			d.Services = append(d.Services, shuffle)
		}
		for _, r := range []*DesiredRole{roleEtl, roleAdhoc} {
			if !files[r.File] && rnd.Intn(4) > 0 {
				d.Roles = append(d.Roles, r)
			}
		}

		o := observed()
		o.Agents = nil
		for _, id := range agentIDs {
			o.Agents = append(o.Agents, Agent{ID: id, Hostname: id, CPUs: 8, MemMiB: 32768})
		}
		o.Weights, o.Quotas = map[string]float64{"other": 2}, map[string]mesos.RoleQuota{}
		o.RoleRecords, o.ServiceRecords = map[string]*store.Record{}, map[string]*store.Record{}
		lostStore := rnd.Intn(4) == 0
		seq := 0
		for _, a := range apps {
			name := a.Name
			if rnd.Intn(2) == 0 {
				seq++
				id := fmt.Sprintf("driver-%d", seq)
				hash := []string{a.Rendered.SpecHash, "old"}[rnd.Intn(2)]
				o.Live = append(o.Live, Driver{SubmissionID: id, App: name, SpecHash: hash, State: "TASK_RUNNING"})
				if !lostStore {
					r := record(name, store.Submission{ID: id, SpecHash: hash, State: "TASK_RUNNING"})
					r.Origin = a.File
					o.Records[name] = r
				}
			}
		}
		if rnd.Intn(2) == 0 {
			for i, id := range agentIDs {
				if rnd.Intn(3) == 0 {
					continue
				}
				hash := []string{shuffle.Rendered.SpecHash, "oldoldoldold"}[rnd.Intn(2)]
				o.ServiceTasks = append(o.ServiceTasks, ServiceTask{Kind: shuffle.Kind, Name: shuffle.Name, AgentID: id, State: "TASK_RUNNING",
					TaskID: fmt.Sprintf("t%d", i), SpecHash: hash})
			}
			if !lostStore {
				o.ServiceRecords[shuffle.Key()] = &store.Record{Key: store.Key{Kind: shuffle.Kind, Name: shuffle.Name}, Origin: shuffle.File}
			}
		}
		for _, r := range []*DesiredRole{roleEtl, roleAdhoc} {
			if rnd.Intn(2) == 0 {
				o.Weights[r.Role] = 7
				o.RoleRecords[r.Name] = &store.Record{Key: store.Key{Kind: v1.KindMesosRole, Name: r.Name}, Origin: r.File,
					Properties: map[string]string{"role": r.Role}}
			}
		}
		opts := Options{Prune: rnd.Intn(2) == 0, Force: rnd.Intn(2) == 0}
		// The rule, stated apart from the code under test.
		held := func(origin string) bool { return files[origin] || (origin == "" && len(files) > 0) }

		// Services roll one agent at a time after launching: a few passes.
		for pass := 0; ; pass++ {
			p := Compute(d, o, t0, opts)
			if p.Changes() == 0 {
				break
			}
			if pass > len(agentIDs)+1 {
				t.Fatalf("round %d: not converged after %d passes: %s %+v %+v", round, pass, types(p), p.Services, p.Roles)
			}
			for _, a := range p.Actions {
				origin := ""
				if r := o.Records[a.App]; r != nil {
					origin = r.Origin
				}
				if d.Apps[a.App] == nil && held(origin) && (len(a.Kill) > 0 || a.Type == ActionPrune) {
					t.Fatalf("round %d: %s of %s, whose file failed to load", round, a.Type, a.App)
				}
				if a.Type == ActionPrune && !opts.Prune {
					t.Fatalf("round %d: prune without --prune", round)
				}
			}
			for _, a := range p.Services {
				origin := ""
				if r := o.ServiceRecords[a.Kind+"/"+a.Name]; r != nil {
					origin = r.Origin
				}
				gone := len(d.Services) == 0
				if gone && held(origin) && a.Type.Changes() {
					t.Fatalf("round %d: %s of a service whose file failed to load", round, a.Type)
				}
				if gone && a.Type == ActionKill && !opts.Prune {
					t.Fatalf("round %d: kill of a removed service without --prune", round)
				}
			}
			for _, a := range p.Roles {
				if a.Role == "other" && a.Type != ActionUnchanged {
					t.Fatalf("round %d: %s of a role the reconciler does not own", round, a.Type)
				}
				if r := o.RoleRecords[a.Name]; r != nil && !hasRole(d, a.Name) && held(r.Origin) && a.Type.Changes() {
					t.Fatalf("round %d: %s of role %s, whose file failed to load", round, a.Type, a.Name)
				}
				if a.Type == ActionPrune && !opts.Prune {
					t.Fatalf("round %d: role prune without --prune", round)
				}
			}

			// Apply in the model; the next pass plans from there.
			model(o, d, p, t0, &seq)
			for _, a := range p.Services {
				var keep []ServiceTask
				for _, st := range o.ServiceTasks {
					if st.Kind == a.Kind && st.Name == a.Name && (a.Type == ActionRoll || a.Type == ActionKill) {
						if a.Type == ActionRoll {
							st.SpecHash = shuffle.Rendered.SpecHash
							keep = append(keep, st)
						}
						continue
					}
					keep = append(keep, st)
				}
				o.ServiceTasks = keep
				if a.Type == ActionLaunch {
					for _, ag := range o.Agents {
						if contains(a.Agents, ag.Hostname) {
							o.ServiceTasks = append(o.ServiceTasks, ServiceTask{Kind: a.Kind, Name: a.Name, AgentID: ag.ID, State: "TASK_RUNNING", SpecHash: shuffle.Rendered.SpecHash})
						}
					}
				}
				if a.Type == ActionLaunch || a.Type == ActionRoll {
					o.ServiceRecords[a.Kind+"/"+a.Name] = &store.Record{Key: store.Key{Kind: a.Kind, Name: a.Name}, Origin: shuffle.File}
				}
			}
			for _, a := range p.Roles {
				switch a.Type {
				case ActionUpdate:
					o.Weights[a.Role], o.Quotas[a.Role] = a.To, a.Quota
					o.RoleRecords[a.Name] = &store.Record{Key: store.Key{Kind: v1.KindMesosRole, Name: a.Name}, Origin: roleFile(d, a.Name),
						Properties: map[string]string{"role": a.Role}}
				case ActionPrune:
					delete(o.Weights, a.Role)
					delete(o.Quotas, a.Role)
					delete(o.RoleRecords, a.Name)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
