// Command reconciler renders, validates and converges declarative manifests
// of Spark applications, dispatchers and shuffle services on Apache Mesos.
package main

import "github.com/sparkmesos/reconciler/cmd/reconciler/app"

func main() { app.Main() }
