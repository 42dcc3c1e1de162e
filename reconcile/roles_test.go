package reconcile

import (
	"fmt"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
)

func TestPlanRoles(t *testing.T) {
	rec := func(name, role, file string) *store.Record {
		return &store.Record{Key: store.Key{Kind: v1.KindMesosRole, Name: name}, Properties: map[string]string{"role": role}, Origin: file}
	}
	for _, tc := range []struct {
		name    string
		roles   []*DesiredRole
		weights map[string]float64
		recs    map[string]*store.Record
		broken  map[string]bool
		prune   bool
		want    string
	}{
		{"new weight", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 3}}, nil, nil, nil, false, "[update etl ETL weight 1 -> 3]"},
		{"set already", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 3}}, map[string]float64{"ETL": 3}, nil, nil, false, "[unchanged etl ETL weight 3, quota none]"},
		{"changed", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 0.5}}, map[string]float64{"ETL": 3}, nil, nil, false, "[update etl ETL weight 3 -> 0.5]"},
		{"new quota", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 3, Quota: mesos.RoleQuota{Guarantees: map[string]float64{"cpus": 8}, Limits: map[string]float64{"cpus": 32, "mem": 131072}}}},
			map[string]float64{"ETL": 3}, nil, nil, false, "[update etl ETL quota none -> guarantees cpus 8; limits cpus 32, mem 128 GiB]"},
		{"removed, kept", nil, map[string]float64{"ETL": 3}, map[string]*store.Record{"etl": rec("etl", "ETL", "r.yaml")}, nil, false,
			"[unchanged etl ETL no longer in the manifests; left as it is without --prune]"},
		{"removed, pruned", nil, map[string]float64{"ETL": 3, "other": 2}, map[string]*store.Record{"etl": rec("etl", "ETL", "r.yaml")}, nil, true,
			"[prune etl ETL no longer in the manifests: weight 3 -> 1 (the default) unchanged other other not the reconciler's: weight 2, quota none (left alone)]"},
		{"broken file", nil, map[string]float64{"ETL": 3}, map[string]*store.Record{"etl": rec("etl", "ETL", "r.yaml")}, map[string]bool{"r.yaml": true}, true,
			"[hold etl ETL its manifest failed to load: left as it is]"},
	} {
		d := &Desired{Roles: tc.roles, BrokenFiles: tc.broken}
		o := &Observed{Weights: tc.weights, RoleRecords: tc.recs}
		var got []string
		for _, a := range planRoles(d, o, Options{Prune: tc.prune}) {
			got = append(got, fmt.Sprintf("%s %s %s %s", a.Type, a.Name, a.Role, a.Reason))
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, got, tc.want)
		}
	}
}

// An application whose spark.cores.max exceeds its role's cpus limit is
// blocked with the numbers; within the limit it is submitted.
func TestQuotaLimitBlocksApps(t *testing.T) {
	d := desiredOf(t, "a.yaml", `apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: big}
spec:
  dispatcher: {external: {url: "mesos://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/a.jar
  role: etl
  executor: {cores: 2, maxCores: 40}
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec:
  quota:
    limits: {cpus: 16}
`)
	o := &Observed{Agents: []Agent{{ID: "a", CPUs: 64, MemMiB: 1 << 20}}}
	p := Compute(d, o, time.Unix(0, 0), Options{})
	if len(p.Actions) != 1 || p.Actions[0].Type != ActionBlocked || p.Actions[0].Reason != `spark.cores.max 40 exceeds the cpus limit 16 of role "etl"` {
		t.Fatalf("plan %+v", p.Actions)
	}
	d.Roles[0].Quota.Limits["cpus"] = 64
	if p := Compute(d, o, time.Unix(0, 0), Options{}); p.Actions[0].Type != ActionSubmit {
		t.Fatalf("within the limit: %+v", p.Actions)
	}
}

// Quota updates Mesos would refuse for capacity are blocked, each checked
// against what the ones before it leave; force, a reset that brings the
// total within capacity, and an unobserved capacity are not blocked.
func TestPlanRolesQuotaCapacity(t *testing.T) {
	g := func(cpus float64) mesos.RoleQuota {
		return mesos.RoleQuota{Guarantees: map[string]float64{"cpus": cpus}}
	}
	capacity := map[string]float64{"cpus": 10, "mem": 4096}
	for _, tc := range []struct {
		name     string
		roles    []*DesiredRole
		quotas   map[string]mesos.RoleQuota
		capacity map[string]float64
		want     string
	}{
		{"fits", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(10)}}, nil, capacity, "[update]"},
		{"too much", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(11)}}, nil, capacity,
			"[blocked: Mesos would refuse the quota (guarantees cpus 11): total quota guarantees 'cpus:11' exceed cluster capacity 'cpus:10; mem:4096'; set spec.quota.force: true to pass Mesos' force flag]"},
		{"others count", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(6)}}, map[string]mesos.RoleQuota{"other": g(5)}, capacity,
			"[blocked: Mesos would refuse the quota (guarantees cpus 6): total quota guarantees 'cpus:11' exceed cluster capacity 'cpus:10; mem:4096'; set spec.quota.force: true to pass Mesos' force flag unchanged]"},
		{"nested roles are in their parent's", []*DesiredRole{{Name: "a", Role: "a/b", Weight: 1, Quota: g(6)}}, map[string]mesos.RoleQuota{"a": g(8)}, capacity, "[update unchanged]"},
		{"in order", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(6)}, {Name: "b", Role: "b", Weight: 1, Quota: g(6)}}, nil, capacity,
			"[update blocked: Mesos would refuse the quota (guarantees cpus 6): total quota guarantees 'cpus:12' exceed cluster capacity 'cpus:10; mem:4096'; set spec.quota.force: true to pass Mesos' force flag]"},
		{"forced", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(11), Force: true}}, nil, capacity, "[update]"},
		{"a decrease that fits", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(4)}}, map[string]mesos.RoleQuota{"a": g(12)}, capacity, "[update]"},
		{"no agents", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(1)}}, nil, map[string]float64{},
			"[blocked: Mesos would refuse the quota (guarantees cpus 1): total quota guarantees 'cpus:1' exceed cluster capacity '{}'; set spec.quota.force: true to pass Mesos' force flag]"},
		{"capacity not observed", []*DesiredRole{{Name: "a", Role: "a", Weight: 1, Quota: g(100)}}, nil, nil, "[update]"},
	} {
		o := &Observed{Quotas: tc.quotas, Capacity: tc.capacity}
		var got []string
		for _, a := range planRoles(&Desired{Roles: tc.roles}, o, Options{}) {
			if a.Type == ActionBlocked {
				got = append(got, "blocked: "+a.Reason)
			} else {
				got = append(got, string(a.Type))
			}
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, got, tc.want)
		}
	}
}
