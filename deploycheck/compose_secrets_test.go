package deploycheck

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/instachat/instachat/pkg/config"
)

// This file checks issue 10's finding 11: no deployment file ships a secret,
// compose refuses to start without real ones, nothing is published beyond
// localhost, Prometheus has no lifecycle API and the services are not MySQL
// root.

// composeVar matches a ${VAR…} reference, with its operator and argument.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}`)

// optionalComposeSecrets are the secrets the services run without, which
// compose passes as ${VAR:-}: empty unless the operator sets one, so the file
// ships no value either.
var optionalComposeSecrets = map[string]bool{"WEBHOOK_KEY": true}

// secretName tells the variables that hold a secret by their name.
var secretName = regexp.MustCompile(`TOKEN|PASSWORD|SECRET|_KEY$|PASSWD`)

func TestComposeRequiresSecrets(t *testing.T) {
	if _, err := loadComposeWith(nil); err == nil {
		t.Fatalf("docker-compose.yml loads without any secret in the environment; want it refused")
	}
	for _, name := range sortedKeys(composeSecrets) {
		env := maps.Clone(composeSecrets)
		delete(env, name)
		if _, err := loadComposeWith(env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: got %v, want compose to refuse naming %s", name, err, name)
		}
	}

	// Every reference to a secret is ${VAR:?message}: no default, and a
	// message that says what to set; an optional one is ${VAR:-}.
	seen := map[string]bool{}
	for i, line := range strings.Split(string(readFile(t, "docker-compose.yml")), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range composeVar.FindAllStringSubmatch(line, -1) {
			if !secretName.MatchString(m[1]) {
				continue
			}
			seen[m[1]] = true
			switch {
			case optionalComposeSecrets[m[1]]:
				if m[2] != ":-" || m[3] != "" {
					t.Errorf("docker-compose.yml:%d: %s: want ${%s:-}, empty unless set", i+1, m[0], m[1])
				}
			case m[2] != ":?" || strings.TrimSpace(m[3]) == "":
				t.Errorf("docker-compose.yml:%d: %s: want ${%s:?how to set it}, no default", i+1, m[0], m[1])
			}
		}
	}
	all := maps.Clone(composeSecrets)
	for name := range optionalComposeSecrets {
		all[name] = ""
	}
	if got, want := sortedKeys(seen), sortedKeys(all); !slices.Equal(got, want) {
		t.Errorf("secret variables in docker-compose.yml: got %v, want %v (keep composeSecrets and optionalComposeSecrets in step)", got, want)
	}

	// What the services read as secrets reaches them from those variables.
	p := loadCompose(t)
	env := readEnv(t)
	for _, svc := range services {
		for name, v := range env[svc] {
			if !v.Secret {
				continue
			}
			given := p.Services[svc].Environment[name]
			if v.Required && given == nil {
				t.Errorf("%s reads the required secret %s, which compose does not give it", svc, name)
			}
			if v.Required && optionalComposeSecrets[name] {
				t.Errorf("%s requires %s, which compose treats as optional", svc, name)
			}
			if given != nil && *given != composeSecrets[name] { // "" for an optional one not set
				t.Errorf("%s %s: got %q, want ${%s:?…} (or ${%[4]s:-}) from the environment", svc, name, *given, name)
			}
		}
	}
}

func TestComposePublishesOnLocalhostOnly(t *testing.T) {
	p := loadCompose(t)
	published := map[string]bool{}
	for _, name := range sortedKeys(p.Services) {
		for _, port := range p.Services[name].Ports {
			published[name] = true
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q; want 127.0.0.1 (put a proxy with TLS in front to serve other machines)", name, port.Published, port.HostIP)
			}
		}
	}
	for _, name := range []string{"api", "prometheus", "grafana"} {
		if !published[name] {
			t.Errorf("%s: no published port (the README points to it on localhost)", name)
		}
	}
	for _, name := range []string{"mysql", "redis", "elasticsearch"} {
		if published[name] {
			t.Errorf("%s: publishes a port; it serves the services on the compose network only", name)
		}
	}
}

func TestComposePrometheusHasNoLifecycleAPI(t *testing.T) {
	p := loadCompose(t)
	for _, arg := range p.Services["prometheus"].Command {
		if strings.HasPrefix(arg, "--web.enable-lifecycle") || strings.HasPrefix(arg, "--web.enable-admin-api") {
			t.Errorf("prometheus command has %s: unauthenticated shutdown, reload or deletion for anyone who reaches it", arg)
		}
	}
}

func TestComposeCredentials(t *testing.T) {
	p := loadCompose(t)
	value := func(svc, name string) string {
		if v := p.Services[svc].Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	// The services are a MySQL user of their own, created by the image.
	user, pass, db := value("mysql", "MYSQL_USER"), value("mysql", "MYSQL_PASSWORD"), value("mysql", "MYSQL_DATABASE")
	if user == "" || user == "root" || pass != composeSecrets["MYSQL_PASSWORD"] {
		t.Errorf("mysql: MYSQL_USER %q, MYSQL_PASSWORD from the environment %v; want a non-root user with the required password", user, pass == composeSecrets["MYSQL_PASSWORD"])
	}
	if root := value("mysql", "MYSQL_ROOT_PASSWORD"); root != composeSecrets["MYSQL_ROOT_PASSWORD"] || root == pass {
		t.Errorf("mysql: MYSQL_ROOT_PASSWORD must come from the environment and differ from MYSQL_PASSWORD")
	}
	for _, svc := range services {
		dsn, err := mysql.ParseDSN(value(svc, "MYSQL_DSN"))
		if err != nil {
			t.Errorf("%s MYSQL_DSN: %v", svc, err)
			continue
		}
		if dsn.User != user || dsn.Passwd != pass || dsn.DBName != db {
			t.Errorf("%s MYSQL_DSN: user %q on %q; want %q (MYSQL_USER) with MYSQL_PASSWORD on %q", svc, dsn.User, dsn.DBName, user, db)
		}
		if got := value(svc, "MYSQL_CREATE_DATABASE"); got != "false" {
			t.Errorf("%s MYSQL_CREATE_DATABASE %q: want false (the image creates the database; the user may not)", svc, got)
		}
	}
	if hc := strings.Join(p.Services["mysql"].HealthCheck.Test, " "); strings.Contains(hc, "-uroot") || strings.Contains(hc, "ROOT_PASSWORD") {
		t.Errorf("mysql health check runs as root: %s", hc)
	}
	// Grafana's admin has a real password and nobody signs up.
	if got := value("grafana", "GF_SECURITY_ADMIN_PASSWORD"); got != composeSecrets["GRAFANA_ADMIN_PASSWORD"] {
		t.Errorf("grafana GF_SECURITY_ADMIN_PASSWORD: want ${GRAFANA_ADMIN_PASSWORD:?…}")
	}
	if value("grafana", "GF_USERS_ALLOW_SIGN_UP") != "false" || value("grafana", "GF_AUTH_ANONYMOUS_ENABLED") == "true" {
		t.Errorf("grafana: want sign-up and anonymous access off")
	}
}

// placeholder matches the placeholder values deployment files used to ship.
var placeholder = regexp.MustCompile(`(?i)\bchange[-_]?me\b|\bchangethis\b|\breplace[-_]?me\b`)

// TestDeployFilesHoldNoPlaceholder reads docker-compose.yml and every file
// under deploy/ (an operator's secrets.env aside) for placeholder secrets,
// and checks that the compose defaults of every variable are not secrets.
func TestDeployFilesHoldNoPlaceholder(t *testing.T) {
	files := []string{repoPath("docker-compose.yml")}
	err := filepath.WalkDir(repoPath("deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if !operatorFiles[filepath.ToSlash(rel)] {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if placeholder.MatchString(line) {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s:%d: placeholder secret: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
	}
	p := loadCompose(t)
	for _, name := range sortedKeys(p.Services) {
		for k, v := range p.Services[name].Environment {
			if v != nil && secretName.MatchString(k) && config.Placeholder(*v) {
				t.Errorf("%s %s: a placeholder", name, k)
			}
		}
	}
}
