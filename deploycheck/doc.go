// Package deploycheck holds the offline validation of the deployment files:
// docker-compose.yml (through the Compose specification's own loader), the
// Kubernetes manifests under deploy/k8s (strict API types and a kustomize
// build), the Prometheus configuration, the Grafana dashboard, and
// deploy/Dockerfile (its Go steps replayed on the files it copies). The
// checks are its tests. It is a module of its own so that the shared module
// pkg does not require Kubernetes, kustomize and compose-go; it generates
// pkg/deploycheck's DashboardMetrics.
package deploycheck
