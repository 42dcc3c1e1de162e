// Package benchdata generates realistic manifests in bulk for benchmarks.
package benchdata

import (
	"fmt"
	"strings"
)

// Dispatcher is the Dispatcher the generated applications are submitted to,
// with the roles they use.
const Dispatcher = `apiVersion: sparkmesos.io/v1
kind: Dispatcher
metadata:
  name: main
spec:
  external:
    url: http://dispatcher.example.com:7077
  queues:
    - {name: urgent, priority: 1.0, role: urgent}
    - {name: batch, priority: 0.5}
  driverDefaults:
    spark.eventLog.enabled: "true"
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: analytics}
spec: {external: true}
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: urgent}
spec: {weight: 3}
`

// Application returns the i-th generated SparkApplication document: a
// mid-sized production manifest (docker, constraints, labels, secrets,
// sparkConf), in structured forms only so that a plain JSON decode reads it.
func Application(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata:
  name: app-%05d
  labels:
    team: team-%d
spec:
  dispatcher:
    name: main
  queue: batch
  role: analytics
  mainClass: com.example.jobs.Job%d
  mainApplicationFile: https://repo.example.com/jobs/job-%d.jar
  arguments: ["--date", "2026-11-%02d", "--partition", "%d"]
  driver:
    cores: 1
    memory: 2g
    labels:
      cost-center: "%d"
    env:
      TZ: UTC
    secrets:
      - name: /jobs/db-password
        envKey: DB_PASSWORD
  executor:
    cores: %d
    memory: %dg
    maxCores: %d
    constraints:
      - attribute: zone
        values: [us-east-1a, us-east-1b]
      - attribute: os
        values: [ubuntu]
    env:
      TZ: UTC
  docker:
    image: registry.example.com/spark:3.4.1-%d
    forcePull: false
    volumes:
      - hostPath: /data/scratch
        containerPath: /scratch
        mode: rw
  fetcherCache: true
  sparkConf:
    spark.sql.shuffle.partitions: "%d"
    spark.serializer: org.apache.spark.serializer.KryoSerializer
  restartPolicy:
    type: OnFailure
    maxRetries: 3
`, i, i%40, i, i, 1+i%28, i, 1000+i%50, 1+i%4, 2+i%8, 4*(1+i%4)*(1+i%5), i%7, 100+i%400)
	return b.String()
}
