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

// httpOptions say where run serves what: /metrics, /healthz, /readyz and
// the extra handlers (the Git webhook) on Listen; the control endpoints
// (POST /run-now/NAME, its synonym /rerun/NAME, with an optional JSON
// body of overrides, and /delete/NAME), behind the bearer token, on
// ControlListen, or on Listen when it is empty.
type httpOptions struct {
	Listen, ControlListen string
	Token                 string
	// Shared are read-only handlers served on both addresses (the event
	// stream), by pattern.
	Shared map[string]http.Handler
}

// serveHTTP serves run's HTTP API; ready says whether the replica is ready
// and why not. It returns the servers and their addresses: Listen's, then
// ControlListen's when it is set.
func serveHTTP(opts httpOptions, reg *prometheus.Registry, extra map[string]http.Handler, request func(verb, name string, body runNowBody) (string, error), ready func() (bool, string)) ([]*http.Server, []string, error) {
	l, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen %s: %w", opts.Listen, err)
	}
	mux := http.NewServeMux()
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	for pattern, h := range opts.Shared {
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
	control := mux
	var cl net.Listener
	if opts.ControlListen != "" {
		if cl, err = net.Listen("tcp", opts.ControlListen); err != nil {
			l.Close()
			return nil, nil, fmt.Errorf("--control-listen %s: %w", opts.ControlListen, err)
		}
		control = http.NewServeMux()
		for pattern, h := range opts.Shared {
			control.Handle(pattern, h)
		}
	}
	for _, verb := range []string{"run-now", "rerun", "delete"} {
		control.Handle("POST /"+verb+"/{name}", guarded(opts.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		})))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	servers, addrs := []*http.Server{srv}, []string{l.Addr().String()}
	if cl != nil {
		csrv := &http.Server{Handler: control, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = csrv.Serve(cl) }()
		servers, addrs = append(servers, csrv), append(addrs, cl.Addr().String())
	}
	return servers, addrs, nil
}
