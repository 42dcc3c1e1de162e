// Command mesos-sim serves a simulated Mesos cluster and Spark
// MesosClusterDispatcher on loopback, for tests and demos:
//
//	mesos-sim --agents 3 --master 127.0.0.1:5050 --dispatcher 127.0.0.1:7077 [--zk 127.0.0.1:2181/mesos]
//
// It prints what it serves and runs until interrupted.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkmesos/reconciler/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mesos-sim: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mesos-sim", flag.ContinueOnError)
	agents := fs.Int("agents", 3, "number of agents (8 cpus, 32 GiB each; attributes zone and os)")
	masters := fs.String("master", "127.0.0.1:5050", "master listen address; several, comma-separated, for a multi-master cluster")
	dispatcherAddr := fs.String("dispatcher", "127.0.0.1:7077", "Spark dispatcher listen address; empty for none")
	queues := fs.String("queues", "", "dispatcher queues, name=priority,... (e.g. URGENT=1.0)")
	zk := fs.String("zk", "", "register the masters in ZooKeeper, host:port[,host:port]/path")
	seed := fs.Int64("seed", 1, "seed of ids and choices")
	principal := fs.String("principal", "", "require HTTP basic authentication with this principal")
	secretFile := fs.String("secret-file", "", "file holding the secret for --principal")
	certFile := fs.String("tls-cert", "", "serve the masters over TLS with this certificate")
	keyFile := fs.String("tls-key", "", "and this key")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "event stream heartbeat interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := sim.Config{NumAgents: *agents, Seed: *seed, HeartbeatInterval: *heartbeat, Principal: *principal}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		cfg.Secret = strings.TrimSpace(string(b))
	}
	addrs := strings.Split(*masters, ",")
	cfg.Masters = len(addrs)
	opts := sim.ServeOptions{MasterAddrs: addrs}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	c := sim.New(cfg)
	if err := c.Start(opts); err != nil {
		return err
	}
	defer c.Stop()
	for i, u := range c.MasterURLs() {
		role := "standby"
		if i == 0 {
			role = "leader"
		}
		fmt.Fprintf(out, "mesos master (%s): %s/api/v1 (operator), %s/api/v1/scheduler, control %s/sim/\n", role, u, u, u)
	}
	fmt.Fprintf(out, "agents: %s\n", strings.Join(c.AgentIDs(), ", "))
	if *dispatcherAddr != "" {
		q := map[string]float64{}
		for _, kv := range strings.Split(*queues, ",") {
			if name, p, ok := strings.Cut(kv, "="); ok {
				f, err := strconv.ParseFloat(p, 64)
				if err != nil {
					return fmt.Errorf("--queues: %q: %v", kv, err)
				}
				q[name] = f
			}
		}
		d, err := c.StartDispatcher(sim.DispatcherConfig{Addr: *dispatcherAddr, Queues: q})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "spark dispatcher: %s/v1/submissions (framework %s)\n", d.URL(), d.FrameworkID())
	}
	if *zk != "" {
		if err := c.RegisterInZooKeeper("zk://" + strings.TrimPrefix(*zk, "zk://")); err != nil {
			return err
		}
		fmt.Fprintf(out, "registered in zookeeper: zk://%s\n", strings.TrimPrefix(*zk, "zk://"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(out, "serving; interrupt to stop")
	<-ctx.Done()
	return nil
}
