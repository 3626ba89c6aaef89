package deploycheck

import (
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// promConfig is the subset of Prometheus' configuration file the deployment
// uses. It is decoded strictly, so a misspelt or misplaced key fails here.
// (The real config package, github.com/prometheus/prometheus/config, pulls
// in every service discovery client: far too heavy for a test.)
type promConfig struct {
	Global struct {
		ScrapeInterval     string            `json:"scrape_interval"`
		ScrapeTimeout      string            `json:"scrape_timeout"`
		EvaluationInterval string            `json:"evaluation_interval"`
		ExternalLabels     map[string]string `json:"external_labels"`
	} `json:"global"`
	ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string `json:"job_name"`
	MetricsPath   string `json:"metrics_path"`
	StaticConfigs []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	} `json:"static_configs"`
	DNSSDConfigs []struct {
		Names           []string `json:"names"`
		Type            string   `json:"type"`
		Port            int      `json:"port"`
		RefreshInterval string   `json:"refresh_interval"`
	} `json:"dns_sd_configs"`
	KubernetesSDConfigs []struct {
		Role       string `json:"role"`
		Namespaces struct {
			Names []string `json:"names"`
		} `json:"namespaces"`
	} `json:"kubernetes_sd_configs"`
	RelabelConfigs []struct {
		SourceLabels []string `json:"source_labels"`
		Separator    string   `json:"separator"`
		Action       string   `json:"action"`
		Regex        string   `json:"regex"`
		Replacement  string   `json:"replacement"`
		TargetLabel  string   `json:"target_label"`
	} `json:"relabel_configs"`
}

func loadPromConfig(t *testing.T, file string) promConfig {
	t.Helper()
	var c promConfig
	if err := yaml.UnmarshalStrict(readFile(t, file), &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, d := range []string{c.Global.ScrapeInterval, c.Global.ScrapeTimeout, c.Global.EvaluationInterval} {
		if _, err := model.ParseDuration(d); d != "" && err != nil {
			t.Errorf("%s: global duration %q: %v", file, d, err)
		}
	}
	for _, sc := range c.ScrapeConfigs {
		for _, rc := range sc.RelabelConfigs {
			// Prometheus anchors its regexes and uses RE2 syntax, like Go.
			if _, err := regexp.Compile("^(?:" + rc.Regex + ")$"); err != nil {
				t.Errorf("%s: job %s: relabel regex %q: %v", file, sc.JobName, rc.Regex, err)
			}
			if !slices.Contains([]string{"", "replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}, rc.Action) {
				t.Errorf("%s: job %s: unknown relabel action %q", file, sc.JobName, rc.Action)
			}
		}
		for _, d := range sc.DNSSDConfigs {
			if _, err := model.ParseDuration(d.RefreshInterval); d.RefreshInterval != "" && err != nil {
				t.Errorf("%s: job %s: refresh_interval %q: %v", file, sc.JobName, d.RefreshInterval, err)
			}
		}
	}
	return c
}

// TestPrometheusCompose checks that the compose Prometheus scrapes each
// service where it listens: the api and cron by name, every writer replica
// through DNS service discovery.
func TestPrometheusCompose(t *testing.T) {
	c := loadPromConfig(t, "deploy/prometheus/prometheus.yml")
	env := readEnv(t)
	jobs := map[string]scrapeConfig{}
	for _, sc := range c.ScrapeConfigs {
		if _, dup := jobs[sc.JobName]; dup {
			t.Errorf("job %s configured twice", sc.JobName)
		}
		jobs[sc.JobName] = sc
	}
	compose := loadCompose(t)
	for _, svc := range services {
		sc, ok := jobs[svc]
		if !ok {
			t.Errorf("no scrape job %s", svc)
			continue
		}
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("job %s scrapes a service compose does not run", svc)
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q, want /metrics", svc, sc.MetricsPath)
		}
		p := port(t, env, svc)
		if svc == "writer" {
			if len(sc.DNSSDConfigs) != 1 || !slices.Equal(sc.DNSSDConfigs[0].Names, []string{"writer"}) ||
				sc.DNSSDConfigs[0].Type != "A" || strconv.Itoa(sc.DNSSDConfigs[0].Port) != p {
				t.Errorf("job writer: got %+v, want dns_sd_configs for the A records of writer on port %s (one target per replica)", sc.DNSSDConfigs, p)
			}
			continue
		}
		want := svc + ":" + p
		if len(sc.StaticConfigs) != 1 || !slices.Equal(sc.StaticConfigs[0].Targets, []string{want}) {
			t.Errorf("job %s: got %+v, want the static target %s", svc, sc.StaticConfigs, want)
		}
	}
}

// TestPrometheusKubernetes checks the in-cluster scrape configuration
// against the manifests: it keeps the pods the Deployments annotate and
// names the job after their component label.
func TestPrometheusKubernetes(t *testing.T) {
	c := loadPromConfig(t, "deploy/prometheus/kubernetes.yml")
	if len(c.ScrapeConfigs) != 1 {
		t.Fatalf("deploy/prometheus/kubernetes.yml: got %d scrape configs, want 1", len(c.ScrapeConfigs))
	}
	sc := c.ScrapeConfigs[0]
	if len(sc.KubernetesSDConfigs) != 1 || sc.KubernetesSDConfigs[0].Role != "pod" ||
		!slices.Equal(sc.KubernetesSDConfigs[0].Namespaces.Names, []string{buildKustomization(t, "deploy/k8s/base").namespace}) {
		t.Errorf("kubernetes_sd_configs: got %+v, want role pod in the base's namespace", sc.KubernetesSDConfigs)
	}
	jobFrom := ""
	for _, rc := range sc.RelabelConfigs {
		if rc.TargetLabel == "job" && len(rc.SourceLabels) == 1 {
			jobFrom = rc.SourceLabels[0]
		}
	}
	if jobFrom != "__meta_kubernetes_pod_label_app_kubernetes_io_component" {
		t.Errorf("the job label comes from %q, want the pod label app.kubernetes.io/component", jobFrom)
	}
}
