package deploycheck

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeSecrets are the variables docker compose refuses to start without
// (${VAR:?message}), with the values the tests give them.
var composeSecrets = map[string]string{
	"INTERNAL_TOKEN":         "3f9a1c7e5b2d8f406a1e9c3b7d5f2a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b1d3f",
	"ADMIN_TOKEN":            "a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b13f9a1c7e5b2d8f406a1e9c3b7d5f2a8e",
	"MYSQL_ROOT_PASSWORD":    "5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e",
	"MYSQL_PASSWORD":         "d8f406a1e9c3b7d5f2a8e4c6b0d9f1a3e5c7b9d2",
	"GRAFANA_ADMIN_PASSWORD": "9c3b7d5f2a8e4c6b0d9f1a3e5c7b9d2f",
}

// loadCompose loads docker-compose.yml the way `docker compose` does: schema
// validation, interpolation, merging of the YAML anchors, consistency checks.
// The environment holds composeSecrets only, so every other ${VAR:-default}
// takes its default.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadComposeWith(composeSecrets)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func loadComposeWith(env map[string]string) (*types.Project, error) {
	dir, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: types.Mapping(maps.Clone(env)),
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("instachat", true)
		o.ResolvePaths = true
	})
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"mysql", "redis", "elasticsearch", "api", "writer", "cron", "prometheus", "grafana"}
	if got := sortedKeys(p.Services); !slices.Equal(got, sortedStrings(want)) {
		t.Errorf("services: got %v, want %v", got, sortedStrings(want))
	}
	for name, img := range map[string]string{"mysql": "mysql:8", "redis": "redis:7", "elasticsearch": "elasticsearch:7.17",
		"prometheus": "prom/prometheus:", "grafana": "grafana/grafana:"} {
		if got := p.Services[name].Image; !strings.Contains(got, img) {
			t.Errorf("%s image: got %q, want one containing %q", name, got, img)
		}
	}
	redis := p.Services["redis"].Command
	if i := slices.Index(redis, "--appendonly"); i < 0 || i+1 >= len(redis) || redis[i+1] != "yes" {
		t.Errorf("redis command: got %q, want --appendonly yes (the counters and queues must survive a restart)", redis)
	}
	if i := slices.Index(redis, "--maxmemory-policy"); i < 0 || i+1 >= len(redis) || redis[i+1] != "noeviction" {
		t.Errorf("redis command: got %q, want --maxmemory-policy noeviction", redis)
	}
	// cron without a command prints its usage and exits.
	if got := p.Services["cron"].Command; !slices.Equal(got, []string{"serve"}) {
		t.Errorf("cron command: got %q, want [serve]", got)
	}
}

func TestComposeHealthAndStartOrder(t *testing.T) {
	p := loadCompose(t)
	env := readEnv(t)
	for name, svc := range p.Services {
		if hc := svc.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range svc.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
				continue
			}
			if d.Condition == types.ServiceConditionHealthy && target.HealthCheck == nil {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
			}
		}
	}
	for _, svc := range services {
		hc := p.Services[svc].HealthCheck
		if hc == nil {
			continue
		}
		url := "http://127.0.0.1:" + port(t, env, svc) + "/readyz"
		if !slices.Contains(hc.Test, url) {
			t.Errorf("%s health check: got %q, want it to GET %s", svc, hc.Test, url)
		}
	}
	healthy := types.ServiceConditionHealthy
	for _, tc := range []struct {
		svc       string
		condition string
		deps      []string
	}{
		{"api", healthy, []string{"mysql", "redis", "elasticsearch"}},
		{"writer", healthy, []string{"mysql", "redis", "api"}},
		{"cron", healthy, []string{"mysql", "redis"}},
		{"prometheus", types.ServiceConditionStarted, []string{"api", "writer", "cron"}},
		{"grafana", healthy, []string{"prometheus"}},
	} {
		got := p.Services[tc.svc].DependsOn
		for _, dep := range tc.deps {
			if d, ok := got[dep]; !ok || d.Condition != tc.condition {
				t.Errorf("%s depends_on %s: got %+v, want condition %s", tc.svc, dep, d, tc.condition)
			}
		}
	}
}

// TestComposeEnvironment checks that every variable the compose file gives
// an InstaChat service is one that service reads (a typo or a variable of
// another service would be silently ignored), and that the settings the
// services must share agree.
func TestComposeEnvironment(t *testing.T) {
	p := loadCompose(t)
	env := readEnv(t)
	for _, svc := range services {
		given := p.Services[svc].Environment
		if len(given) == 0 {
			t.Errorf("%s: no environment", svc)
		}
		for _, name := range sortedKeys(given) {
			if _, ok := env[svc][name]; !ok {
				t.Errorf("compose gives %s %s, which it does not read (it reads %v)", svc, name, sortedKeys(env[svc]))
			}
			if given[name] == nil {
				t.Errorf("%s: %s has no value (taken from the host environment)", svc, name)
			}
		}
	}
	value := func(svc, name string) string {
		if v := p.Services[svc].Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	for _, name := range []string{"REDIS_KEY_PREFIX", "QUEUE_PARTITIONS", "MYSQL_DSN", "REDIS_ADDR"} {
		if a, w, c := value("api", name), value("writer", name), value("cron", name); a == "" || a != w || a != c {
			t.Errorf("%s must be set and agree across the services: api %q, writer %q, cron %q", name, a, w, c)
		}
	}
	if a, w := value("api", "INTERNAL_TOKEN"), value("writer", "INTERNAL_TOKEN"); a == "" || a != w {
		t.Errorf("INTERNAL_TOKEN: api %q, writer %q, want the same secret", a, w)
	}
	for _, svc := range services {
		for _, name := range []string{"INTERNAL_TOKEN", "ADMIN_TOKEN"} {
			if v := p.Services[svc].Environment[name]; v != nil && *v != composeSecrets[name] {
				t.Errorf("%s %s: got %q, want the value from the environment", svc, name, *v)
			}
		}
	}
	if got, want := value("writer", "API_URL"), "http://api:"+port(t, env, "api"); got != want {
		t.Errorf("writer API_URL: got %q, want %q", got, want)
	}
}

// TestComposeWebhooks checks that the api and the writer get the same
// WEBHOOK_KEY from the environment (optional: compose starts without it, and
// webhooks are off) and the same WEBHOOK_ALLOW_HOSTS, empty by default.
func TestComposeWebhooks(t *testing.T) {
	const key = "1d3f3f9a1c7e5b2d8f406a1e9c3b7d5f2a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b"
	env := maps.Clone(composeSecrets)
	env["WEBHOOK_KEY"] = key
	with, err := loadComposeWith(env)
	if err != nil {
		t.Fatalf("docker-compose.yml with WEBHOOK_KEY: %v", err)
	}
	for _, tc := range []struct {
		what              string
		p                 *types.Project
		key, allowedHosts string
	}{
		{"without WEBHOOK_KEY", loadCompose(t), "", ""},
		{"with WEBHOOK_KEY", with, key, ""},
	} {
		for _, svc := range []string{"api", "writer"} {
			e := tc.p.Services[svc].Environment
			if v := e["WEBHOOK_KEY"]; v == nil || *v != tc.key {
				t.Errorf("%s: %s WEBHOOK_KEY %q, want %q (the api and the writer share it)", tc.what, svc, deref(v), tc.key)
			}
			if v := e["WEBHOOK_ALLOW_HOSTS"]; v == nil || *v != tc.allowedHosts {
				t.Errorf("%s: %s WEBHOOK_ALLOW_HOSTS %q, want %q", tc.what, svc, deref(v), tc.allowedHosts)
			}
		}
		if _, ok := tc.p.Services["cron"].Environment["WEBHOOK_KEY"]; ok {
			t.Errorf("%s: cron gets WEBHOOK_KEY, which it does not need", tc.what)
		}
	}
}

// deref shows an environment value, or that there is none.
func deref(v *string) string {
	if v == nil {
		return "(none)"
	}
	return *v
}

// TestComposeMounts checks that the configuration the compose file mounts
// into Prometheus and Grafana exists in the repository and lands where their
// configuration expects it.
func TestComposeMounts(t *testing.T) {
	p := loadCompose(t)
	dir, _ := filepath.Abs(root)
	targets := map[string]string{} // container path -> repository path
	for _, name := range []string{"prometheus", "grafana"} {
		for _, v := range p.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			rel, err := filepath.Rel(dir, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s from outside the repository", name, v.Source)
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, rel)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s read-write; configuration should be read-only", name, rel)
			}
			targets[v.Target] = filepath.ToSlash(rel)
		}
	}
	for target, want := range map[string]string{
		"/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
		"/etc/grafana/provisioning":      "deploy/grafana/provisioning",
		grafanaDashboardsDir(t):          "deploy/grafana/dashboards",
	} {
		if got := targets[target]; got != want {
			t.Errorf("container path %s: got %q mounted, want %s", target, got, want)
		}
	}
	if !slices.Contains(p.Services["prometheus"].Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command: got %q, want --config.file=/etc/prometheus/prometheus.yml", p.Services["prometheus"].Command)
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
