package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

func TestRoleWeightsConverge(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A role someone else weighs: observed, never touched.
	if err := mc.UpdateWeights(ctx, map[string]float64{"other": 2}); err != nil {
		t.Fatal(err)
	}
	e.write("roles.yaml", `apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec: {role: ETL, weight: 3}
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: adhoc}
spec: {weight: 1}
`)
	out, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(out, "~ update    MesosRole/etl            weight 1 -> 3") || strings.Contains(out, "MesosRole/adhoc") {
		t.Fatalf("diff (exit %d):\n%s", code, out)
	}
	e.mustApply()
	w, err := mc.Weights(ctx)
	if err != nil || w["ETL"] != 3 || w["other"] != 2 {
		t.Fatalf("weights after apply: %v %v", w, err)
	}
	if out, code := e.run("diff", e.dir); code != 0 {
		t.Fatalf("diff after apply (exit %d):\n%s", code, out)
	}

	// The manifest is removed: without --prune the weight stays; with it,
	// what we set is reset, and the role we never set is left alone.
	if err := os.Remove(filepath.Join(e.dir, "roles.yaml")); err != nil {
		t.Fatal(err)
	}
	e.mustApply()
	if w, _ := mc.Weights(ctx); w["ETL"] != 3 {
		t.Fatalf("weight changed without --prune: %v", w)
	}
	out = e.mustApply("--prune")
	if !strings.Contains(out, "MesosRole/etl") {
		t.Errorf("apply --prune did not show the role:\n%s", out)
	}
	w, _ = mc.Weights(ctx)
	if w["ETL"] != 1 || w["other"] != 2 {
		t.Fatalf("weights after the prune: %v (want ETL reset to 1, other untouched at 2)", w)
	}
}
