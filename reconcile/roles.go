package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// DesiredRole is a Mesos role whose weight the manifests set.
type DesiredRole struct {
	Name   string // the MesosRole object's name
	Role   string // the Mesos role
	Weight float64
	File   string
}

// RoleAction is the plan for one role: update its weight, reset it (prune),
// or leave it.
type RoleAction struct {
	Type       ActionType // update, prune, unchanged
	Name, Role string
	From, To   float64
	Reason     string
}

// RoleObserver reads and sets the master's role weights.
type RoleObserver interface {
	Weights(ctx context.Context) (map[string]float64, error)
}

// RoleUpdater sets role weights.
type RoleUpdater interface {
	UpdateWeights(ctx context.Context, weights map[string]float64) error
}

// desiredRoles lists the MesosRoles of a load.
func desiredRoles(m *v1.Manifests) []*DesiredRole {
	var out []*DesiredRole
	for _, o := range m.Objects {
		r, ok := o.(*v1.MesosRole)
		if !ok {
			continue
		}
		dr := &DesiredRole{Name: r.Metadata.Name, Role: r.Spec.Role, Weight: 1, File: r.Origin().File}
		if dr.Role == "" {
			dr.Role = r.Metadata.Name
		}
		if r.Spec.Weight != nil {
			dr.Weight = *r.Spec.Weight
		}
		out = append(out, dr)
	}
	return out
}

// ObserveRoles adds the master's weights and the roles the store says we
// own to o. It costs one call, made only when roles are desired or owned.
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
	o.Weights = w
	return nil
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
	var out []RoleAction
	desired := map[string]bool{}
	for _, r := range d.Roles {
		desired[r.Name] = true
		cur := weightOf(o, r.Role)
		a := RoleAction{Name: r.Name, Role: r.Role, From: cur, To: r.Weight}
		if cur == r.Weight {
			a.Type, a.Reason = ActionUnchanged, fmt.Sprintf("weight %s", fmtWeight(cur))
		} else {
			a.Type, a.Reason = ActionUpdate, fmt.Sprintf("weight %s -> %s", fmtWeight(cur), fmtWeight(r.Weight))
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
		case d.BrokenFiles[rec.Origin]:
			a.Type, a.Reason = ActionHold, "its manifest failed to load: left as it is"
		case opts.Prune:
			a.Type, a.Reason = ActionPrune, fmt.Sprintf("no longer in the manifests: weight %s -> 1 (the default)", fmtWeight(a.From))
		default:
			a.Type, a.Reason = ActionUnchanged, "no longer in the manifests; left as it is without --prune"
		}
		out = append(out, a)
	}
	return out
}

func fmtWeight(w float64) string { return strconv.FormatFloat(w, 'g', -1, 64) }

// ExecuteRoles carries out the role actions: the weight first, then the
// record that makes the role ours (so a crash in between only leaves a
// weight that the next pass finds already set).
func ExecuteRoles(ctx context.Context, u RoleUpdater, st store.Store, o *Observed, d *Desired, actions []RoleAction) error {
	var errs []error
	for _, a := range actions {
		switch a.Type {
		case ActionUpdate:
			if err := u.UpdateWeights(ctx, map[string]float64{a.Role: a.To}); err != nil {
				errs = append(errs, err)
				continue
			}
		case ActionPrune:
			if err := u.UpdateWeights(ctx, map[string]float64{a.Role: 1}); err != nil {
				errs = append(errs, err)
				continue
			}
			if rec := o.RoleRecords[a.Name]; rec != nil {
				if err := st.Delete(ctx, rec.Key, rec.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs = append(errs, err)
				}
			}
			continue
		case ActionUnchanged:
		default:
			continue
		}
		if !hasRole(d, a.Name) {
			continue
		}
		rec := o.RoleRecords[a.Name]
		if rec != nil && rec.Properties["role"] == a.Role {
			continue
		}
		if rec == nil {
			rec = &store.Record{Key: store.Key{Kind: v1.KindMesosRole, Name: a.Name}}
		}
		rec.Properties = map[string]string{"role": a.Role}
		rec.Origin = roleFile(d, a.Name)
		rec.Status = store.Status{Phase: PhaseRunning, Message: "weight " + fmtWeight(a.To)}
		if _, err := st.Put(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
