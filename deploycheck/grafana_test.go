package deploycheck

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	generated "github.com/instachat/instachat/pkg/deploycheck"
)

// generatedFile is where the list of the dashboard's metrics goes, in the
// shared module, so the end-to-end test reads it without this module's
// dependencies.
const generatedFile = "pkg/deploycheck/dashboard_metrics.go"

var update = flag.Bool("update", false, "rewrite dashboard_metrics.go from the Grafana dashboard")

const dashboardFile = "deploy/grafana/dashboards/instachat.json"

// dashboard is the part of a Grafana dashboard model the checks read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens the rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// metricName finds the series names the services export in a PromQL
// expression. Series Prometheus makes itself (up, scrape_*) are not matched.
var metricName = regexp.MustCompile(`\b(?:instachat|go|process)_[a-z0-9_]+\b`)

// dashboardMetrics returns the metric families the dashboard queries, with
// the _bucket, _sum and _count series of a histogram named by its family.
func dashboardMetrics(d dashboard) []string {
	seen := map[string]bool{}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					m = strings.TrimSuffix(m, suffix)
				}
				seen[m] = true
			}
		}
	}
	return sortedKeys(seen)
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both set (provisioning keys on the uid)", d.UID, d.Title)
	}
	if !slices.Contains(d.Templating.List, variable{Name: "datasource", Type: "datasource", Query: "prometheus"}) {
		t.Errorf("no Prometheus data source variable named datasource")
	}
	ids := map[int]string{}
	uid := provisionedDatasourceUID(t)
	queries := 0
	for _, p := range d.allPanels() {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if !usesPrometheus(p.Datasource, uid) {
			t.Errorf("panel %q: data source %+v, want prometheus with uid ${datasource} or %s", p.Title, p.Datasource, uid)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource != nil && !usesPrometheus(tg.Datasource, uid) {
				t.Errorf("panel %q query %s: data source %+v, want prometheus", p.Title, tg.RefID, tg.Datasource)
			}
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q: a query without expr or refId", p.Title)
			}
			if err := balanced(tg.Expr); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries; want the full set (requests, latency, queue, jobs, search, sync, runtime)", queries)
	}
	// The panels the operations issue asks for, by the metric they query.
	got := dashboardMetrics(d)
	for _, want := range []string{
		"instachat_http_requests_total", "instachat_http_request_duration_seconds",
		"instachat_queue_jobs", "instachat_queue_oldest_job_age_seconds", "instachat_jobs_total",
		"instachat_out_of_order_total", "instachat_job_commit_lag_seconds",
		"instachat_search_duration_seconds", "instachat_search_errors_total",
		"instachat_counter_sync_runs_total", "instachat_counter_sync_drift_total",
		"process_resident_memory_bytes", "go_goroutines",
		"instachat_event_subscribers", "instachat_events_delivered_total", "instachat_event_drops_total",
		"instachat_event_delivery_seconds", "instachat_event_resumes_total",
		"instachat_webhook_deliveries_total", "instachat_webhook_delivery_seconds", "instachat_webhook_retries_total",
		"instachat_webhook_endpoints_paused_total", "instachat_hooks_queue_jobs", "instachat_hooks_queue_oldest_job_age_seconds",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("the dashboard does not query %s", want)
		}
	}
}

// TestDashboardMetricsRegistered checks offline that every instachat_ metric
// the dashboard queries is registered somewhere in the code (the end-to-end
// test then checks that the running services export it).
func TestDashboardMetricsRegistered(t *testing.T) {
	var code strings.Builder
	for _, dir := range []string{"pkg", "services"} {
		files, err := goFiles(repoPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.Contains(filepath.ToSlash(f), "/deploycheck/") {
				continue // its list of names is derived from the dashboard
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			code.Write(b)
		}
	}
	for _, m := range dashboardMetrics(loadDashboard(t)) {
		if strings.HasPrefix(m, "instachat_") && !registered(code.String(), m) {
			t.Errorf("the dashboard queries %s, which no Go code registers", m)
		}
	}
}

// queueFamily matches the families of the queue's Collector
// (pkg/queue.NewCollector), which builds their names: "instachat_queue_"
// and a suffix for the jobs lane, "instachat_<lane>_queue_" for another.
var queueFamily = regexp.MustCompile(`^instachat_(?:([a-z]+)_)?queue_([a-z_]+)$`)

// registered tells whether code names metric m: whole, or for a queue
// Collector's family in its parts (the prefix, the suffix and, for another
// lane, the lane's key segment, as Keys.Hooks writes "hooks:").
func registered(code, m string) bool {
	if strings.Contains(code, `"`+m+`"`) {
		return true
	}
	sub := queueFamily.FindStringSubmatch(m)
	if sub == nil || !strings.Contains(code, `"instachat_queue_"`) || !strings.Contains(code, `"`+sub[2]+`"`) {
		return false
	}
	return sub[1] == "" || strings.Contains(code, `"`+sub[1]+`:"`)
}

// TestDashboardMetricsList keeps pkg/deploycheck/dashboard_metrics.go equal to
// what the dashboard queries; (cd deploycheck && go test -run TestDashboardMetricsList -update)
// rewrites it.
func TestDashboardMetricsList(t *testing.T) {
	got := dashboardMetrics(loadDashboard(t))
	if *update {
		var b bytes.Buffer
		b.WriteString("// Code generated by (cd deploycheck && go test -run TestDashboardMetricsList -update); DO NOT EDIT.\n\n")
		b.WriteString("package deploycheck\n\n")
		b.WriteString("// DashboardMetrics are the metric families that " + dashboardFile + "\n")
		b.WriteString("// queries, a histogram by its family name (without _bucket, _sum or _count).\n")
		b.WriteString("var DashboardMetrics = []string{\n")
		for _, m := range got {
			fmt.Fprintf(&b, "\t%q,\n", m)
		}
		b.WriteString("}\n")
		src, err := format.Source(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(repoPath(generatedFile), src, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !slices.Equal(got, generated.DashboardMetrics) {
		t.Errorf("DashboardMetrics is stale: got %v in the dashboard, %v in %s; run (cd deploycheck && go test -run TestDashboardMetricsList -update)", got, generated.DashboardMetrics, generatedFile)
	}
}

// usesPrometheus tells whether ds is the provisioned Prometheus, directly or
// through the dashboard's data source variable.
func usesPrometheus(ds *datasource, uid string) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == uid)
}

// balanced catches a PromQL expression with unbalanced brackets or quotes,
// the usual damage of hand-editing JSON.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, r := range expr {
		switch {
		case r == '"':
			inString = !inString
		case inString:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack)
	}
	return nil
}

// grafanaDatasources is the data source provisioning file.
type grafanaDatasources struct {
	APIVersion  int `json:"apiVersion"`
	Datasources []struct {
		Name      string            `json:"name"`
		UID       string            `json:"uid"`
		Type      string            `json:"type"`
		Access    string            `json:"access"`
		URL       string            `json:"url"`
		IsDefault bool              `json:"isDefault"`
		Editable  bool              `json:"editable"`
		JSONData  map[string]string `json:"jsonData"`
	} `json:"datasources"`
}

// grafanaProviders is the dashboard provisioning file.
type grafanaProviders struct {
	APIVersion int `json:"apiVersion"`
	Providers  []struct {
		Name                  string `json:"name"`
		OrgID                 int    `json:"orgId"`
		Folder                string `json:"folder"`
		Type                  string `json:"type"`
		DisableDeletion       bool   `json:"disableDeletion"`
		AllowUIUpdates        bool   `json:"allowUiUpdates"`
		UpdateIntervalSeconds int    `json:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `json:"path"`
			FoldersFromFilesStructure bool   `json:"foldersFromFilesStructure"`
		} `json:"options"`
	} `json:"providers"`
}

// provisionedDatasourceUID checks the data source provisioning and returns
// the Prometheus data source's uid.
func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	var ds grafanaDatasources
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/grafana/provisioning/datasources/prometheus.yml"), &ds); err != nil {
		t.Fatalf("grafana data source provisioning: %v", err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("grafana data sources: got apiVersion %d and %d sources, want 1 and 1", ds.APIVersion, len(ds.Datasources))
	}
	d := ds.Datasources[0]
	if d.Type != "prometheus" || d.UID == "" || d.URL != "http://prometheus:9090" {
		t.Errorf("grafana data source: got type %q uid %q url %q, want prometheus at http://prometheus:9090 with a uid", d.Type, d.UID, d.URL)
	}
	return d.UID
}

// grafanaDashboardsDir checks the dashboard provider and returns the
// directory it loads dashboards from.
func grafanaDashboardsDir(t *testing.T) string {
	t.Helper()
	var ps grafanaProviders
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/grafana/provisioning/dashboards/instachat.yml"), &ps); err != nil {
		t.Fatalf("grafana dashboard provisioning: %v", err)
	}
	if ps.APIVersion != 1 || len(ps.Providers) != 1 || ps.Providers[0].Type != "file" || ps.Providers[0].Options.Path == "" {
		t.Fatalf("grafana dashboard providers: got %+v, want one file provider with a path", ps)
	}
	return ps.Providers[0].Options.Path
}

func TestGrafanaProvisioning(t *testing.T) {
	provisionedDatasourceUID(t)
	dir := grafanaDashboardsDir(t)
	if !strings.HasPrefix(dir, "/") {
		t.Errorf("dashboard provider path %q: want an absolute container path", dir)
	}
}
