package reconcile

import (
	"fmt"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/strs"
	"github.com/sparkmesos/reconciler/render"
)

// BuildDesired renders the valid applications of a load. Files with errors
// are BrokenFiles: what the store says came from them is held.
func BuildDesired(m *v1.Manifests, problems v1.Problems, opts render.Options) (*Desired, error) {
	d := &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{}, Roles: desiredRoles(m)}
	opts.ShufflePorts = render.ShufflePortsOf(m)
	if opts.Strings == nil {
		opts.Strings = &strs.Pool{} // the applications' dispatcher URLs, held once
	}
	for _, p := range problems.Errors() {
		if p.Pos.File != "" {
			d.BrokenFiles[p.Pos.File] = true
		}
	}
	for _, o := range m.Objects {
		if ds, ok := o.(*v1.Dispatcher); ok && ds.Spec.Managed != nil {
			r, err := render.Dispatcher(ds, opts)
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", ds.Metadata.Name, err)
			}
			d.Services = append(d.Services, &DesiredService{Kind: v1.KindDispatcher, Name: ds.Metadata.Name, Single: true,
				Rendered: r, Constraints: ds.Spec.Managed.Constraints, File: ds.Origin().File})
			continue
		}
		if ss, ok := o.(*v1.ShuffleService); ok {
			r, err := render.ShuffleService(ss, render.AgentPlaceholder, opts)
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", ss.Metadata.Name, err)
			}
			d.Services = append(d.Services, &DesiredService{Kind: v1.KindShuffleService, Name: ss.Metadata.Name,
				Rendered: r, Constraints: ss.Spec.Constraints, File: ss.Origin().File})
			continue
		}
		if sc, ok := o.(*v1.ScheduledSparkApplication); ok {
			c, err := sc.Spec.Cron(cronSeconds)
			if err != nil {
				return nil, fmt.Errorf("schedule %s: %w", sc.Metadata.Name, err)
			}
			ds := &DesiredSchedule{Schedule: sc, Cron: c, File: sc.Origin().File, RenderOpts: opts}
			if n := sc.Spec.Template.Dispatcher.Name; n != "" {
				ds.Dispatcher = m.Dispatcher(n)
			}
			d.Schedules = append(d.Schedules, ds)
			continue
		}
		if n, ok := o.(*v1.Notifier); ok {
			d.Notifiers = append(d.Notifiers, &DesiredNotifier{Notifier: n, File: n.Origin().File})
			continue
		}
		app, ok := o.(*v1.SparkApplication)
		if !ok {
			continue
		}
		var disp *v1.Dispatcher
		if app.Spec.Dispatcher.Name != "" {
			disp = m.Dispatcher(app.Spec.Dispatcher.Name)
		}
		da, err := desiredApp(app, disp, opts)
		if err != nil {
			return nil, err
		}
		if app.Spec.Suspend {
			da.Stopped = "suspended: remove spec.suspend to resume"
		}
		d.Apps[app.Metadata.Name] = da
	}
	d.indexNames()
	return d, nil
}

// cronSeconds: schedules were validated already; a seconds field that
// passed validation (--schedule-seconds) parses here too.
const cronSeconds = true

// desiredApp renders one application.
func desiredApp(app *v1.SparkApplication, disp *v1.Dispatcher, opts render.Options) (*DesiredApp, error) {
	r, err := render.SparkApplication(app, disp, opts)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", app.Metadata.Name, err)
	}
	da := NewDesiredApp(app, r)
	props := r.Request.SparkProperties
	da.UsesShuffle = props["spark.shuffle.service.enabled"] == "true" || props["spark.dynamicAllocation.enabled"] == "true"
	if disp != nil && disp.Spec.Managed != nil {
		da.ManagedDispatcher = disp.Metadata.Name
	}
	return da, nil
}
