package mesos

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkmesos/reconciler/sim"
)

// TestTLSWithCAFile serves the simulated master over TLS with a
// self-signed certificate: the client verifies it with --ca-file, and
// refuses it without.
func TestTLSWithCAFile(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	ts.Close()
	c := sim.New(sim.Config{})
	if err := c.Start(sim.ServeOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(c.MasterURL(), "http://", "https://", 1)
	if _, err := client(t, Options{Master: url, CAFile: ca}).Snapshot(context.Background()); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	if _, err := client(t, Options{Master: url, Retries: 1}).Snapshot(context.Background()); err == nil {
		t.Fatal("an unknown certificate was accepted without the CA file")
	}
}
