// Package deploycheck holds the offline validation of the deployment files:
// docker-compose.yml (through the Compose specification's own loader), the
// Kubernetes manifests under deploy/k8s (strict API types and a kustomize
// build), the Prometheus configuration and the Grafana dashboard. The checks
// are its tests; the package itself only carries DashboardMetrics, which the
// end-to-end test compares with what the running services export.
package deploycheck
