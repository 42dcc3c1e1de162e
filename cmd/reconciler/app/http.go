package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sparkmesos/reconciler/reconcile"
)

// serveHTTP serves /metrics, /healthz, /readyz, POST /run-now/NAME (and
// its synonym /rerun/NAME, with an optional JSON body of overrides) and
// /delete/NAME, and the extra handlers by pattern; ready says whether the
// replica is ready and why not.
func serveHTTP(addr string, reg *prometheus.Registry, extra map[string]http.Handler, request func(verb, name string, body runNowBody) (string, error), ready func() (bool, string)) (*http.Server, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	for _, verb := range []string{"run-now", "rerun", "delete"} {
		mux.HandleFunc("POST /"+verb+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			var body runNowBody
			if b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(bytes.TrimSpace(b)) > 0 {
				if err := json.Unmarshal(b, &body); err != nil {
					http.Error(w, "the body must be JSON: {args, conf, force}: "+err.Error(), http.StatusBadRequest)
					return
				}
			}
			if err := reconcile.CheckOverrides(body.overrides()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			msg, err := request(verb, r.PathValue("name"), body)
			if err != nil {
				http.Error(w, err.Error(), statusOfCode(requestCode(err)))
				return
			}
			fmt.Fprintln(w, msg)
		})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, l.Addr().String(), nil
}
