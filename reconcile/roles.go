package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
)

// DesiredRole is a Mesos role whose weight and quota the manifests set.
type DesiredRole struct {
	Name   string // the MesosRole object's name
	Role   string // the Mesos role
	Weight float64
	Quota  mesos.RoleQuota // empty: no guarantee, no limit
	// Force passes Mesos' force flag: the quota is set even when the
	// guarantees exceed the cluster's capacity.
	Force bool
	File  string
}

// RoleAction is the plan for one role: update its weight, reset it (prune),
// or leave it.
type RoleAction struct {
	Type       ActionType // update, prune, unchanged, hold
	Name, Role string
	From, To   float64 // weights
	Quota      mesos.RoleQuota
	SetQuota   bool // the quota differs: set Quota (empty on prune: reset)
	Force      bool // set the quota with Mesos' force flag
	Reason     string
	// pruneRefused: a prune the guard turned into blocked.
	pruneRefused bool
}

// RoleObserver reads the master's role weights and quotas.
type RoleObserver interface {
	Weights(ctx context.Context) (map[string]float64, error)
	Quotas(ctx context.Context) (map[string]mesos.RoleQuota, error)
}

// RoleUpdater sets role weights and quotas.
type RoleUpdater interface {
	UpdateWeights(ctx context.Context, weights map[string]float64) error
	UpdateQuota(ctx context.Context, role string, q mesos.RoleQuota, force bool) error
}

var _ RoleUpdater = (*mesos.Client)(nil)

// desiredRoles lists the MesosRoles of a load.
func desiredRoles(m *v1.Manifests) []*DesiredRole {
	var out []*DesiredRole
	for _, o := range m.Objects {
		r, ok := o.(*v1.MesosRole)
		if !ok || r.Spec.External {
			continue
		}
		dr := &DesiredRole{Name: r.Metadata.Name, Role: r.Spec.Role, Weight: 1, File: r.Origin().File}
		if dr.Role == "" {
			dr.Role = r.Metadata.Name
		}
		if r.Spec.Weight != nil {
			dr.Weight = *r.Spec.Weight
		}
		if q := r.Spec.Quota; q != nil {
			dr.Quota = mesos.RoleQuota{Guarantees: scalars(q.Guarantees), Limits: scalars(q.Limits)}
			dr.Force = q.Force
		}
		out = append(out, dr)
	}
	return out
}

// ObserveRoles adds the master's weights and quotas and the roles the store
// says we own to o. It costs two calls, made only when roles are desired or
// owned.
func ObserveRoles(ctx context.Context, c RoleObserver, st store.Store, d *Desired, o *Observed) error {
	recs, err := st.List(ctx, v1.KindMesosRole)
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	o.RoleRecords = map[string]*store.Record{}
	for _, r := range recs {
		o.RoleRecords[r.Key.Name] = r
	}
	if len(d.Roles) == 0 && len(recs) == 0 {
		return nil
	}
	w, err := c.Weights(ctx)
	if err != nil {
		return err
	}
	q, err := c.Quotas(ctx)
	if err != nil {
		return err
	}
	o.Weights, o.Quotas = w, q
	return nil
}

// scalars are a quota's resources as Mesos names and units them (MiB).
func scalars(r *v1.Resources) map[string]float64 {
	out := map[string]float64{}
	if r == nil {
		return out
	}
	if r.CPUs != nil {
		out["cpus"] = *r.CPUs
	}
	if r.Mem != nil {
		out["mem"] = float64(r.Mem.MiB())
	}
	if r.Disk != nil {
		out["disk"] = float64(r.Disk.MiB())
	}
	if r.GPUs != nil {
		out["gpus"] = *r.GPUs
	}
	return out
}

// quotaText is a quota for people: "guarantees cpus 8, mem 32768; limits cpus 32".
// fmtQuantity writes a scalar resource with its unit: mem and disk are
// MiB in Mesos (131072 -> 128 GiB), the others plain numbers.
func fmtQuantity(name string, v float64) string {
	if name != "mem" && name != "disk" {
		return fmtWeight(v)
	}
	for _, u := range []struct {
		name string
		mib  float64
	}{{"TiB", 1 << 20}, {"GiB", 1 << 10}} {
		if v >= u.mib && math.Mod(v, u.mib) == 0 {
			return fmtWeight(v/u.mib) + " " + u.name
		}
	}
	return fmtWeight(v) + " MiB"
}

func quotaText(q mesos.RoleQuota) string {
	part := func(name string, m map[string]float64) string {
		if len(m) == 0 {
			return ""
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+" "+fmtQuantity(k, m[k]))
		}
		return name + " " + strings.Join(kv, ", ")
	}
	var parts []string
	for _, p := range []string{part("guarantees", q.Guarantees), part("limits", q.Limits)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func weightOf(o *Observed, role string) float64 {
	if w, ok := o.Weights[role]; ok {
		return w
	}
	return 1
}

// planRoles compares the desired weights with the master's. Only roles the
// store records as ours are reset when their manifest is gone (with prune);
// a role from a file that failed to load is left as it is.
func planRoles(d *Desired, o *Observed, opts Options) []RoleAction {
	out := roleActions(d, o, opts)
	checkCapacity(out, o)
	return out
}

// checkCapacity blocks the quota updates Mesos would refuse: UPDATE_QUOTA
// fails (400) when, with the update applied, the guarantees of all roles
// exceed the capacity of the agents the master lists, unless it is forced.
// Updates are checked in plan order, each against the quotas the ones
// before it leave. Without an observed capacity nothing is checked.
func checkCapacity(actions []RoleAction, o *Observed) {
	quotas := map[string]mesos.RoleQuota{}
	for r, q := range o.Quotas {
		quotas[r] = q
	}
	for i := range actions {
		a := &actions[i]
		if !a.SetQuota || (a.Type != ActionUpdate && a.Type != ActionPrune) {
			continue
		}
		next := map[string]mesos.RoleQuota{}
		for r, q := range quotas {
			next[r] = q
		}
		next[a.Role] = a.Quota
		total := totalGuarantees(next)
		if o.Capacity != nil && !a.Force && !covers(o.Capacity, total) {
			a.Type = ActionBlocked
			a.Reason = fmt.Sprintf("Mesos would refuse the quota (%s): total quota guarantees '%s' exceed cluster capacity '%s'; "+
				"set spec.quota.force: true to pass Mesos' force flag", quotaText(a.Quota), quantities(total), quantities(o.Capacity))
			continue
		}
		quotas = next
	}
}

// totalGuarantees sums the guarantees of top-level roles (a nested role's
// are contained in its parent's, as Mesos counts them).
func totalGuarantees(quotas map[string]mesos.RoleQuota) map[string]float64 {
	total := map[string]float64{}
	for role, q := range quotas {
		if strings.Contains(role, "/") {
			continue
		}
		for name, v := range q.Guarantees {
			total[name] += v
		}
	}
	return total
}

func covers(capacity, want map[string]float64) bool {
	for name, v := range want {
		if v > capacity[name]+1e-9 {
			return false
		}
	}
	return true
}

// quantities writes amounts as Mesos does: "cpus:1; mem:1024", "{}" for none.
func quantities(m map[string]float64) string {
	var names []string
	for n, v := range m {
		if v != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "{}"
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + fmtWeight(m[n])
	}
	return strings.Join(parts, "; ")
}

// roleActions compares the desired weights and quotas with the master's.
func roleActions(d *Desired, o *Observed, opts Options) []RoleAction {
	var out []RoleAction
	desired := map[string]bool{}
	for _, r := range d.Roles {
		desired[r.Name] = true
		cur := weightOf(o, r.Role)
		a := RoleAction{Name: r.Name, Role: r.Role, From: cur, To: r.Weight, Quota: r.Quota, Force: r.Force}
		var changes []string
		if cur != r.Weight {
			changes = append(changes, fmt.Sprintf("weight %s -> %s", fmtWeight(cur), fmtWeight(r.Weight)))
		}
		if oq, wq := quotaText(o.Quotas[r.Role]), quotaText(r.Quota); oq != wq {
			changes = append(changes, fmt.Sprintf("quota %s -> %s", oq, wq))
			a.SetQuota = true
		}
		if len(changes) == 0 {
			a.Type, a.Reason = ActionUnchanged, fmt.Sprintf("weight %s, quota %s", fmtWeight(cur), quotaText(r.Quota))
		} else {
			a.Type, a.Reason = ActionUpdate, strings.Join(changes, "; ")
		}
		out = append(out, a)
	}
	names := make([]string, 0, len(o.RoleRecords))
	for n := range o.RoleRecords {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rec := o.RoleRecords[n]
		if desired[n] {
			continue
		}
		role := rec.Properties["role"]
		a := RoleAction{Name: n, Role: role, From: weightOf(o, role), To: 1}
		switch {
		case d.Holds(rec.Origin):
			a.Type, a.Reason = ActionHold, "its manifest failed to load: left as it is"
		case opts.Prune:
			a.Type, a.Reason = ActionPrune, fmt.Sprintf("no longer in the manifests: weight %s -> 1 (the default)", fmtWeight(a.From))
			if q := quotaText(o.Quotas[role]); q != "none" {
				a.Reason += fmt.Sprintf(", quota %s -> none", q)
			}
			a.SetQuota = true
		default:
			a.Type, a.Reason = ActionUnchanged, "no longer in the manifests; left as it is without --prune"
		}
		out = append(out, a)
	}
	// Roles someone else weighs or limits: shown, never touched.
	known := map[string]bool{}
	for _, a := range out {
		known[a.Role] = true
	}
	var others []string
	for r := range o.Weights {
		others = append(others, r)
	}
	for r := range o.Quotas {
		if _, dup := o.Weights[r]; !dup {
			others = append(others, r)
		}
	}
	sort.Strings(others)
	for _, r := range others {
		if !known[r] {
			out = append(out, RoleAction{Type: ActionUnchanged, Name: r, Role: r,
				Reason: fmt.Sprintf("not the reconciler's: weight %s, quota %s (left alone)", fmtWeight(weightOf(o, r)), quotaText(o.Quotas[r]))})
		}
	}
	return out
}

func fmtWeight(w float64) string { return strconv.FormatFloat(w, 'g', -1, 64) }

// ExecuteRoles carries out the role actions, one outcome each (unchanged
// roles included, so that a failure is never mistaken for "applied"): the
// weight first, then the quota, then the record that makes the role ours
// (so a crash in between only leaves a weight that the next pass finds
// already set). A failed update is recorded on the role's record.
func ExecuteRoles(ctx context.Context, u RoleUpdater, st store.Store, o *Observed, d *Desired, actions []RoleAction) []Outcome {
	var out []Outcome
	for i := range actions {
		a := &actions[i]
		err := executeRole(ctx, u, st, o, d, a)
		out = append(out, Outcome{Role: a, Err: err})
	}
	return out
}

func executeRole(ctx context.Context, u RoleUpdater, st store.Store, o *Observed, d *Desired, a *RoleAction) error {
	var err error
	switch a.Type {
	case ActionUpdate:
		if err = u.UpdateWeights(ctx, map[string]float64{a.Role: a.To}); err == nil && a.SetQuota {
			err = u.UpdateQuota(ctx, a.Role, a.Quota, a.Force)
		}
	case ActionPrune:
		if err = u.UpdateWeights(ctx, map[string]float64{a.Role: 1}); err == nil {
			err = u.UpdateQuota(ctx, a.Role, mesos.RoleQuota{}, false)
		}
		if err != nil {
			return err
		}
		if rec := o.RoleRecords[a.Name]; rec != nil {
			if err := st.Delete(ctx, rec.Key, rec.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	case ActionBlocked:
		if a.pruneRefused {
			return nil // not an error: the revision stays unapplied (Complete)
		}
		// An outcome that keeps the source's revision unapplied.
		err = errors.New(a.Reason)
	case ActionUnchanged:
	default:
		return nil
	}
	if !hasRole(d, a.Name) {
		return err
	}
	rec := o.RoleRecords[a.Name]
	status := store.Status{Phase: PhaseConverged, Message: "weight " + fmtWeight(a.To)}
	if err != nil {
		status = store.Status{Phase: PhaseFailed, Message: err.Error()}
	}
	if rec != nil && rec.Properties["role"] == a.Role && a.Type != ActionUpdate &&
		rec.Status.Phase == status.Phase && rec.Status.Message == status.Message {
		return err
	}
	if rec == nil {
		rec = &store.Record{Key: store.Key{Kind: v1.KindMesosRole, Name: a.Name}}
	}
	rec.Properties = map[string]string{"role": a.Role}
	rec.Origin, rec.Revision = roleFile(d, a.Name), d.Revision
	rec.Status = status
	if _, perr := st.Put(ctx, rec); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

func hasRole(d *Desired, name string) bool {
	for _, r := range d.Roles {
		if r.Name == name {
			return true
		}
	}
	return false
}

func roleFile(d *Desired, name string) string {
	for _, r := range d.Roles {
		if r.Name == name {
			return r.File
		}
	}
	return ""
}
