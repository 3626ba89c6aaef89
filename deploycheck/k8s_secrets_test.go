package deploycheck

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/instachat/instachat/pkg/config"
)

// operatorFiles are files a kustomization names that the operator writes and
// git must never hold: the build fails until they exist.
var operatorFiles = map[string]bool{"deploy/k8s/base/secrets.env": true}

// secretKeyNames are the keys of instachat-secrets, what the containers
// take from it.
var secretKeyNames = []string{"ADMIN_TOKEN", "INTERNAL_TOKEN", "MYSQL_DSN", "REDIS_PASSWORD"}

// optionalSecretKeys are keys of instachat-secrets that secrets.env may leave
// out: the containers take them with optional: true, and the services run
// without them (WEBHOOK_KEY: webhooks off).
var optionalSecretKeys = map[string]bool{"WEBHOOK_KEY": true}

// testSecretsEnv stands in for the operator's secrets.env in the builds.
const testSecretsEnv = `INTERNAL_TOKEN=7d5f2a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3b
ADMIN_TOKEN=0d9f1a3e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3b7d5f2a8e4c6b
MYSQL_DSN=instachat:e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2@tcp(mysql:3306)/instachat
REDIS_PASSWORD=c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3
`

// testWebhookKey is the WEBHOOK_KEY line an operator may add to secrets.env.
const testWebhookKey = "WEBHOOK_KEY=2a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3b7d5f\n"

// k8sFS copies deploy/k8s into memory, without any secrets.env an operator
// keeps in the checkout, and with secrets as that file unless it is empty.
func k8sFS(t *testing.T, secrets string) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(repoPath(k8sDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if operatorFiles[rel] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+rel, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if secrets != "" {
		for f := range operatorFiles {
			if err := mem.WriteFile("/"+f, []byte(secrets)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mem
}

// checkGitIgnored fails unless the .gitignore beside an operator file names it.
func checkGitIgnored(t *testing.T, p string) {
	t.Helper()
	ignore := path.Join(path.Dir(p), ".gitignore")
	b, err := os.ReadFile(repoPath(ignore))
	if err != nil || !slices.Contains(strings.Split(string(b), "\n"), path.Base(p)) {
		t.Errorf("%s must be git-ignored: %s should list %s (%v)", p, ignore, path.Base(p), err)
	}
}

// TestKubernetesSecretsMustBeProvided checks that no build succeeds without
// the operator's secrets.env, so the Secret can never hold a value from git.
func TestKubernetesSecretsMustBeProvided(t *testing.T) {
	for _, dir := range []string{k8sDir + "/base", k8sDir + "/overlays/example"} {
		_, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(k8sFS(t, ""), "/"+dir)
		if err == nil || !strings.Contains(err.Error(), "secrets.env") {
			t.Errorf("kustomize build %s without secrets.env: got %v, want an error naming secrets.env", dir, err)
		}
	}
	for f := range operatorFiles {
		checkGitIgnored(t, f)
	}
}

// checkGeneratedSecret checks that instachat-secrets comes from the
// operator's file (generated, name with a content hash so pods roll when it
// changes) and holds exactly the keys the containers take (optional ones
// when the file has them).
func checkGeneratedSecret(t *testing.T, dir string, m manifests) {
	t.Helper()
	var s *corev1.Secret
	for name, sec := range m.secrets {
		if strings.HasPrefix(name, "instachat-secrets-") {
			s = sec
		}
	}
	if s == nil {
		t.Fatalf("%s: no generated Secret instachat-secrets-<hash> (got %v)", dir, sortedKeys(m.secrets))
	}
	keys := slices.DeleteFunc(secretKeys(s), func(k string) bool { return optionalSecretKeys[k] })
	slices.Sort(keys)
	if !slices.Equal(keys, secretKeyNames) {
		t.Errorf("%s: Secret %s has keys %v, want %v (those of secrets.env)", dir, s.Name, keys, secretKeyNames)
	}
	for _, k := range []string{"INTERNAL_TOKEN", "ADMIN_TOKEN"} {
		v := string(s.Data[k])
		if !strings.Contains(testSecretsEnv, k+"="+v+"\n") || config.Placeholder(v) {
			t.Errorf("%s: Secret %s %s is not the value of secrets.env", dir, s.Name, k)
		}
	}
}

// TestKubernetesWebhookKey checks that the api and the writer take the same
// WEBHOOK_KEY from instachat-secrets, optionally, so pods start from a
// secrets.env without it (webhooks off) and get it from one that has it,
// and the same WEBHOOK_ALLOW_HOSTS, empty by default.
func TestKubernetesWebhookKey(t *testing.T) {
	dir := k8sDir + "/base"
	for _, tc := range []struct {
		what    string
		secrets string
	}{
		{"without WEBHOOK_KEY", testSecretsEnv},
		{"with WEBHOOK_KEY", testSecretsEnv + testWebhookKey},
	} {
		m := buildWith(t, dir, tc.secrets)
		var secret string
		for name, s := range m.secrets {
			if strings.HasPrefix(name, "instachat-secrets-") {
				secret = name
				if _, has := s.Data["WEBHOOK_KEY"]; has != strings.Contains(tc.secrets, "WEBHOOK_KEY=") {
					t.Errorf("%s: Secret %s has WEBHOOK_KEY %v, want it from secrets.env only", tc.what, name, has)
				}
			}
		}
		for _, svc := range []string{"api", "writer"} {
			c := m.deployments[svc].Spec.Template.Spec.Containers[0]
			env := m.containerEnv(t, dir, c)
			if got, want := env["WEBHOOK_KEY"], "secret:"+secret+"/WEBHOOK_KEY"; got != want {
				t.Errorf("%s: %s WEBHOOK_KEY %q, want %q (the api and the writer share it)", tc.what, svc, got, want)
			}
			if got, ok := env["WEBHOOK_ALLOW_HOSTS"]; !ok || got != "" {
				t.Errorf("%s: %s WEBHOOK_ALLOW_HOSTS %q (given %v), want it given and empty", tc.what, svc, got, ok)
			}
			for _, e := range c.Env {
				if e.Name == "WEBHOOK_KEY" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
					t.Errorf("%s: %s takes WEBHOOK_KEY without optional: true; a secrets.env without it would keep the pods from starting", tc.what, svc)
				}
			}
		}
		cron := m.containerEnv(t, dir, m.deployments["cron"].Spec.Template.Spec.Containers[0])
		if _, ok := cron["WEBHOOK_KEY"]; ok {
			t.Errorf("%s: cron gets WEBHOOK_KEY, which it does not need", tc.what)
		}
	}
}
