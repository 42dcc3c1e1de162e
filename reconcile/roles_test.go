package reconcile

import (
	"fmt"
	"testing"

	v1 "github.com/sparkmesos/reconciler/api/v1"
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
		{"set already", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 3}}, map[string]float64{"ETL": 3}, nil, nil, false, "[unchanged etl ETL weight 3]"},
		{"changed", []*DesiredRole{{Name: "etl", Role: "ETL", Weight: 0.5}}, map[string]float64{"ETL": 3}, nil, nil, false, "[update etl ETL weight 3 -> 0.5]"},
		{"removed, kept", nil, map[string]float64{"ETL": 3}, map[string]*store.Record{"etl": rec("etl", "ETL", "r.yaml")}, nil, false,
			"[unchanged etl ETL no longer in the manifests; left as it is without --prune]"},
		{"removed, pruned", nil, map[string]float64{"ETL": 3, "other": 2}, map[string]*store.Record{"etl": rec("etl", "ETL", "r.yaml")}, nil, true,
			"[prune etl ETL no longer in the manifests: weight 3 -> 1 (the default)]"},
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
