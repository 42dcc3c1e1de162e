package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fidelityDir is ../shared/fidelity beside the project (the workspace's
// shared folder; CI has a copy in the same place).
const fidelityDir = "../../shared/fidelity"

// TestFidelityAgainstRealMaster builds mesosprobe from the shared fidelity
// folder, drives an in-process simulated master through its scenario, and
// compares the transcript with the one a real Mesos 1.12.0 master gave:
// status codes, media types, headers, JSON shapes, enum values and event
// sequences must all agree.
func TestFidelityAgainstRealMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("the probe's scenario takes about 10 s")
	}
	dir, err := filepath.Abs(fidelityDir)
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real-mesos-1.12-transcript.json")
	if _, err := os.Stat(real); err != nil {
		t.Fatalf("the real master's transcript is missing (%v): the workspace's shared/ folder must sit beside the project", err)
	}
	tmp := t.TempDir()
	probe := filepath.Join(tmp, "mesosprobe")
	build := exec.Command("go", "-C", filepath.Join(dir, "mesosprobe"), "build", "-o", probe, ".")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mesosprobe: %v\n%s", err, out)
	}

	c := New(Config{NumAgents: 1})
	if err := c.Start(ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	simulated := filepath.Join(tmp, "sim-transcript.json")
	run := exec.Command(probe, "run", "--master", c.MasterURL(), "--out", simulated, "--wait", "20s", "--quiet")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("mesosprobe run: %v\n%s", err, out)
	}
	out, err := exec.Command(probe, "compare", real, simulated).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "equivalent") {
		t.Fatalf("the simulated master differs from a real Mesos 1.12.0 master (%v):\n%s", err, out)
	}
}
