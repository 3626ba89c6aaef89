package deploycheck

import (
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// monitoringNamespace is where Prometheus runs (deploy/prometheus/kubernetes.yml).
const monitoringNamespace = "monitoring"

// egressPorts are the only ports the writer and the cron may reach: DNS,
// MySQL, Redis and Sentinel; the writer also calls the api (apiPort) and
// delivers webhooks (webhookPort).
var egressPorts = []int32{53, 3306, 6379, 26379}

// webhookPort is where the writer delivers webhooks: HTTPS on public
// addresses, never the internal ranges (publicOnly).
const webhookPort = 443

// internalRanges are what the writer's webhook egress must leave out, so the
// network refuses internal receivers as the writer does (pkg/webhook).
var internalRanges = map[string][]string{
	"0.0.0.0/0": {"10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"},
	"::/0":      {"::1/128", "fc00::/7", "fe80::/10"},
}

// checkNetworkPolicies checks that ingress is denied by default, that the
// api answers on its port, that Prometheus in the monitoring namespace
// scrapes every pod, and that the writer and the cron reach only what they
// need.
func checkNetworkPolicies(t *testing.T, dir string, m manifests) {
	t.Helper()
	denyAll := false
	for _, p := range m.policies {
		s := p.Spec.PodSelector
		if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 && hasPolicyType(p, networkingv1.PolicyTypeIngress) && len(p.Spec.Ingress) == 0 {
			denyAll = true
		}
	}
	if !denyAll {
		t.Errorf("%s: no NetworkPolicy denies ingress by default (empty podSelector, policyTypes [Ingress], no rules)", dir)
	}
	api := m.deployments["api"]
	for svc, d := range m.deployments {
		where := dir + ": " + svc + " pods"
		pod := labels.Set(d.Spec.Template.Labels)
		c := d.Spec.Template.Spec.Containers[0]
		port := httpPort(c)
		var ingress []networkingv1.NetworkPolicyIngressRule
		var egress []networkingv1.NetworkPolicyEgressRule
		egressLimited := false
		for _, p := range m.policies {
			if !selectsPod(t, p.Spec.PodSelector, pod) {
				continue
			}
			if hasPolicyType(p, networkingv1.PolicyTypeIngress) {
				ingress = append(ingress, p.Spec.Ingress...)
			}
			if hasPolicyType(p, networkingv1.PolicyTypeEgress) {
				egressLimited = true
				egress = append(egress, p.Spec.Egress...)
			}
		}
		fromAnywhere, fromMonitoring := false, false
		for _, r := range ingress {
			if !portsAllow(r.Ports, c, port) {
				continue
			}
			if len(r.From) == 0 {
				fromAnywhere = true
			}
			for _, peer := range r.From {
				if ns := peer.NamespaceSelector; ns != nil && ns.MatchLabels[corev1.LabelMetadataName] == monitoringNamespace && peer.PodSelector == nil {
					fromMonitoring = true
				}
			}
		}
		switch {
		case svc == "api" && !fromAnywhere:
			t.Errorf("%s: no NetworkPolicy lets clients reach the api on its port %s", where, port)
		case svc != "api" && fromAnywhere:
			t.Errorf("%s: reachable from anywhere on %s; want only Prometheus from the %s namespace", where, port, monitoringNamespace)
		case !fromAnywhere && !fromMonitoring:
			t.Errorf("%s: Prometheus in the %s namespace cannot scrape port %s", where, monitoringNamespace, port)
		}
		if svc == "api" {
			continue
		}
		if !egressLimited {
			t.Errorf("%s: no NetworkPolicy limits egress", where)
			continue
		}
		reaches := map[int32]bool{}
		for _, r := range egress {
			if len(r.Ports) == 0 {
				t.Errorf("%s: an egress rule allows every port", where)
			}
			for _, p := range r.Ports {
				if p.Port == nil || p.Port.IntVal == 0 || p.EndPort != nil {
					t.Errorf("%s: egress rule port %v: want one port number", where, p.Port)
					continue
				}
				n := p.Port.IntVal
				reaches[n] = true
				if slices.Contains(egressPorts, n) {
					continue
				}
				if svc == "writer" && n == webhookPort {
					if !publicOnly(r.To) {
						t.Errorf("%s: webhook egress to port %d: want ipBlocks 0.0.0.0/0 and ::/0 that leave out %v", where, n, internalRanges)
					}
					continue
				}
				if svc != "writer" || api == nil || !toPodsOnly(t, r.To, api.Spec.Template.Labels) {
					t.Errorf("%s: egress to port %d; want only %v (and the writer to the api pods)", where, n, egressPorts)
				}
			}
		}
		for _, n := range []int32{53, 3306, 6379} {
			if !reaches[n] {
				t.Errorf("%s: egress to port %d (DNS, MySQL, Redis) is not allowed", where, n)
			}
		}
		if svc == "writer" && api != nil && !reachesAPI(t, egress, api) {
			t.Errorf("%s: cannot reach the api pods' port for /internal/reindex", where)
		}
		if svc == "writer" && !reaches[webhookPort] {
			t.Errorf("%s: egress to port %d is not allowed: no webhook can be delivered", where, webhookPort)
		}
	}
}

func hasPolicyType(p *networkingv1.NetworkPolicy, typ networkingv1.PolicyType) bool {
	return slices.Contains(p.Spec.PolicyTypes, typ)
}

func selectsPod(t *testing.T, s metav1.LabelSelector, pod labels.Set) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&s)
	if err != nil {
		t.Errorf("selector %v: %v", s, err)
		return false
	}
	return sel.Matches(pod)
}

// portsAllow tells whether rule ports let traffic reach the container's port.
func portsAllow(ports []networkingv1.NetworkPolicyPort, c corev1.Container, port string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || hasPort(c, *p.Port, port) {
			return true
		}
	}
	return false
}

// publicOnly tells whether peers are ipBlocks of the whole address space
// that leave out every internal range.
func publicOnly(peers []networkingv1.NetworkPolicyPeer) bool {
	if len(peers) == 0 {
		return false
	}
	for _, peer := range peers {
		b := peer.IPBlock
		if b == nil || peer.PodSelector != nil || peer.NamespaceSelector != nil {
			return false
		}
		want, ok := internalRanges[b.CIDR]
		if !ok {
			return false
		}
		for _, r := range want {
			if !slices.Contains(b.Except, r) {
				return false
			}
		}
	}
	return true
}

// toPodsOnly tells whether peers name only pods of this namespace with these labels.
func toPodsOnly(t *testing.T, peers []networkingv1.NetworkPolicyPeer, pod map[string]string) bool {
	t.Helper()
	if len(peers) == 0 {
		return false
	}
	for _, peer := range peers {
		if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || !selectsPod(t, *peer.PodSelector, pod) {
			return false
		}
	}
	return true
}

// reachesAPI tells whether an egress rule lets traffic reach the api pods'
// http port.
func reachesAPI(t *testing.T, egress []networkingv1.NetworkPolicyEgressRule, api *appsv1.Deployment) bool {
	t.Helper()
	c := api.Spec.Template.Spec.Containers[0]
	for _, r := range egress {
		if !toPodsOnly(t, r.To, api.Spec.Template.Labels) {
			continue
		}
		for _, p := range r.Ports {
			if p.Port != nil && hasPort(c, *p.Port, httpPort(c)) {
				return true
			}
		}
	}
	return false
}

// httpPort is the number of the container's port named http.
func httpPort(c corev1.Container) string {
	for _, cp := range c.Ports {
		if cp.Name == "http" {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return ""
}
