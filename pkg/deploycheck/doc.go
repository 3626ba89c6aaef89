// Package deploycheck carries what the deploy checks generate for other
// modules' tests: DashboardMetrics, which the end-to-end test compares with
// what the running services export. The checks themselves (Compose,
// Kubernetes, Prometheus, Grafana, the Dockerfile) are the tests of the
// top-level module deploycheck, so this module needs none of their
// dependencies.
package deploycheck
