package deploycheck

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

const k8sDir = "deploy/k8s"

// kinds are the Kubernetes types the manifests may hold, by apiVersion/kind.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

// decodeStrict decodes one YAML document into its Kubernetes type; unknown
// or duplicate fields fail, as they do for kubectl apply --validate=strict.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q is not one the manifests use", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// documents splits a YAML stream, dropping documents with only comments.
func documents(b []byte) [][]byte {
	var out [][]byte
	for _, d := range docSeparator.Split(string(b), -1) {
		for _, line := range strings.Split(d, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, []byte(d))
				break
			}
		}
	}
	return out
}

// TestKubernetesFilesDecodeStrictly decodes every YAML file under deploy/k8s:
// kustomization files into kustomize's own type, the others (patches
// included) document by document into the Kubernetes API types, strictly.
// Every file a kustomization names must exist, and every manifest file must
// be named by a kustomization.
func TestKubernetesFilesDecodeStrictly(t *testing.T) {
	listed := map[string]bool{}
	var manifests []string
	err := filepath.WalkDir(repoPath(k8sDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Name() == ".gitignore" || operatorFiles[rel]:
			// Not manifests: which files stay out of git, and the operator's secrets.
		case d.Name() == "kustomization.yaml" || d.Name() == "kustomization.yml":
			for _, f := range kustomizationFiles(t, rel) {
				listed[f] = true
			}
		case strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml"):
			manifests = append(manifests, rel)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			docs := documents(b)
			if len(docs) == 0 {
				t.Errorf("%s: no YAML document", rel)
			}
			for i, doc := range docs {
				if _, err := decodeStrict(doc); err != nil {
					t.Errorf("%s, document %d: %v", rel, i+1, err)
				}
			}
		default:
			t.Errorf("%s: not YAML; deploy/k8s holds manifests only", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		if !listed[m] {
			t.Errorf("%s is not named by any kustomization.yaml: kubectl apply -k would skip it", m)
		}
	}
}

// kustomizationFiles decodes a kustomization strictly, checks that the files
// and directories it names exist, and returns the files among them.
func kustomizationFiles(t *testing.T, rel string) []string {
	t.Helper()
	var k kustypes.Kustomization
	if err := yaml.UnmarshalStrict(readFile(t, rel), &k); err != nil {
		t.Errorf("%s: %v", rel, err)
		return nil
	}
	if k.APIVersion != kustypes.KustomizationVersion || k.Kind != kustypes.KustomizationKind {
		t.Errorf("%s: apiVersion %q kind %q, want %s %s", rel, k.APIVersion, k.Kind, kustypes.KustomizationVersion, kustypes.KustomizationKind)
	}
	dir := path.Dir(rel)
	refs := append(append([]string{}, k.Resources...), k.Components...)
	for _, p := range k.Patches {
		if p.Path != "" {
			refs = append(refs, p.Path)
		}
	}
	for _, g := range k.ConfigMapGenerator {
		refs = append(refs, g.FileSources...)
		refs = append(refs, g.EnvSources...)
	}
	for _, g := range k.SecretGenerator {
		refs = append(refs, g.FileSources...)
		refs = append(refs, g.EnvSources...)
	}
	var files []string
	for _, ref := range refs {
		if i := strings.Index(ref, "="); i >= 0 { // key=path in file sources
			ref = ref[i+1:]
		}
		p := path.Join(dir, ref)
		if operatorFiles[p] {
			checkGitIgnored(t, p)
			continue
		}
		st, err := os.Stat(repoPath(p))
		if err != nil {
			t.Errorf("%s names %s, which does not exist", rel, ref)
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
		}
	}
	return files
}

// manifests are the objects one kustomize build produces.
type manifests struct {
	namespace   string // the kustomization's namespace
	namespaces  []*corev1.Namespace
	deployments map[string]*appsv1.Deployment // by the name of their container, the service it runs
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
}

// buildKustomization runs kustomize (the library kubectl -k embeds) on dir,
// in a copy of deploy/k8s that holds the operator's secrets.env with
// testSecretsEnv, and decodes every object it outputs strictly.
func buildKustomization(t *testing.T, dir string) manifests {
	t.Helper()
	return buildWith(t, dir, testSecretsEnv)
}

// buildWith builds the kustomization in dir with secrets as the operator's
// secrets.env.
func buildWith(t *testing.T, dir, secrets string) manifests {
	t.Helper()
	var k kustypes.Kustomization
	if err := yaml.Unmarshal(readFile(t, dir+"/kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	m := manifests{namespace: k.Namespace, deployments: map[string]*appsv1.Deployment{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for base := dir; m.namespace == "" && len(k.Resources) > 0; {
		// An overlay inherits its base's namespace.
		base = path.Join(base, k.Resources[0])
		k = kustypes.Kustomization{}
		if err := yaml.Unmarshal(readFile(t, base+"/kustomization.yaml"), &k); err != nil {
			break
		}
		m.namespace = k.Namespace
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(k8sFS(t, secrets), "/"+dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("kustomize build %s: %s/%s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.Deployment:
			cs := o.Spec.Template.Spec.Containers
			if len(cs) != 1 {
				t.Fatalf("%s: deployment %s has %d containers, want 1", dir, o.Name, len(cs))
			}
			m.deployments[cs[0].Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *networkingv1.NetworkPolicy:
			m.policies = append(m.policies, o)
		}
		if ns := r.GetNamespace(); r.GetKind() != "Namespace" && ns != m.namespace {
			t.Errorf("%s: %s/%s in namespace %q, want %q", dir, r.GetKind(), r.GetName(), ns, m.namespace)
		}
	}
	return m
}

// containerEnv resolves what a container's environment holds: values from
// ConfigMaps, "secret:<name>/<key>" for secrets. Missing references fail.
func (m manifests) containerEnv(t *testing.T, dir string, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := m.configMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: %s envFrom ConfigMap %s, which does not exist", dir, c.Name, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				out[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, ok := m.secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("%s: %s envFrom Secret %s, which does not exist", dir, c.Name, from.SecretRef.Name)
				continue
			}
			for _, k := range secretKeys(s) {
				out[from.Prefix+k] = "secret:" + s.Name + "/" + k
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := m.configMaps[ref.Name]
			v, has := "", false
			if ok {
				v, has = cm.Data[ref.Key]
			}
			if !has {
				t.Errorf("%s: %s env %s: ConfigMap %s key %s does not exist", dir, c.Name, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok := m.secrets[ref.Name]
			has := false
			if ok {
				for _, k := range secretKeys(s) {
					has = has || k == ref.Key
				}
			}
			if !has && (ref.Optional == nil || !*ref.Optional) {
				t.Errorf("%s: %s env %s: Secret %s key %s does not exist", dir, c.Name, e.Name, ref.Name, ref.Key)
			}
			if ref.Optional != nil && *ref.Optional && !optionalSecretKeys[ref.Key] {
				t.Errorf("%s: %s env %s: Secret %s key %s is optional, but the service needs it", dir, c.Name, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = "secret:" + ref.Name + "/" + ref.Key
		default:
			out[e.Name] = "(field)"
		}
	}
	return out
}

func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	for k := range s.StringData {
		keys = append(keys, k)
	}
	return keys
}

// podLabels tells whether a selector picks a pod template's labels.
func selects(sel map[string]string, pod map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod))
}

// checkManifests holds the rules every build (base and overlays) keeps.
func checkManifests(t *testing.T, dir string, m manifests, env map[string]serviceEnv) {
	t.Helper()
	if len(m.namespaces) != 1 || m.namespaces[0].Name != m.namespace || m.namespace == "" {
		t.Errorf("%s: want one Namespace object named after the kustomization's namespace %q", dir, m.namespace)
	}
	resolved := map[string]map[string]string{}
	for _, svc := range services {
		d, ok := m.deployments[svc]
		if !ok {
			t.Errorf("%s: no Deployment runs the %s container", dir, svc)
			continue
		}
		resolved[svc] = checkDeployment(t, dir, m, d, env[svc], port(t, env, svc))
	}
	if t.Failed() && len(resolved) < len(services) {
		return
	}
	for _, name := range []string{"MYSQL_DSN", "REDIS_ADDR", "REDIS_PASSWORD", "REDIS_KEY_PREFIX", "QUEUE_PARTITIONS", "QUEUE_HEARTBEAT_TTL"} {
		a, w, c := resolved["api"][name], resolved["writer"][name], resolved["cron"][name]
		if a != w || a != c {
			t.Errorf("%s: %s must agree across the services: api %q, writer %q, cron %q", dir, name, a, w, c)
		}
	}
	if a, w := resolved["api"]["INTERNAL_TOKEN"], resolved["writer"]["INTERNAL_TOKEN"]; a == "" || a != w {
		t.Errorf("%s: INTERNAL_TOKEN: api %q, writer %q, want the same secret", dir, a, w)
	}
	// The api seals webhook secrets with WEBHOOK_KEY and checks URLs against
	// WEBHOOK_ALLOW_HOSTS; the writer opens them and checks again.
	if a, w := resolved["api"]["WEBHOOK_KEY"], resolved["writer"]["WEBHOOK_KEY"]; a == "" || a != w {
		t.Errorf("%s: WEBHOOK_KEY: api %q, writer %q, want the same secret", dir, a, w)
	}
	a, aok := resolved["api"]["WEBHOOK_ALLOW_HOSTS"]
	if w, wok := resolved["writer"]["WEBHOOK_ALLOW_HOSTS"]; !aok || !wok || a != w {
		t.Errorf("%s: WEBHOOK_ALLOW_HOSTS: api %q, writer %q, want the same list in both", dir, a, w)
	}
	if got, want := resolved["writer"]["API_URL"], "http://api:"+port(t, env, "api"); got != want {
		t.Errorf("%s: writer API_URL %q, want %q (the api Service)", dir, got, want)
	}
	if c := m.deployments["cron"]; c != nil && (c.Spec.Replicas == nil || *c.Spec.Replicas != 1 || c.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType) {
		t.Errorf("%s: cron must run once (replicas 1, strategy Recreate): got %v replicas, %s", dir, c.Spec.Replicas, c.Spec.Strategy.Type)
	}
	if c := m.deployments["cron"]; c != nil {
		// cron without a command prints its usage and exits.
		for _, ctr := range c.Spec.Template.Spec.Containers {
			if ctr.Name == "cron" && (len(ctr.Command) > 0 || !slices.Equal(ctr.Args, []string{"serve"})) {
				t.Errorf("%s: cron container: got command %q args %q, want args [serve]", dir, ctr.Command, ctr.Args)
			}
		}
	}

	scaled := map[string]bool{}
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		d, ok := m.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok || d.Name != ref.Name {
			t.Errorf("%s: HPA %s targets %s %s/%s, which is not a Deployment here", dir, h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		scaled[ref.Name] = true
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("%s: HPA %s: minReplicas %v, maxReplicas %d", dir, h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			t.Errorf("%s: HPA %s has no metric", dir, h.Name)
		}
		for _, mt := range h.Spec.Metrics {
			if mt.Resource != nil {
				if _, ok := d.Spec.Template.Spec.Containers[0].Resources.Requests[mt.Resource.Name]; !ok {
					t.Errorf("%s: HPA %s scales on %s, which deployment %s does not request", dir, h.Name, mt.Resource.Name, d.Name)
				}
			}
		}
	}
	protected := map[string]bool{}
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil {
			t.Errorf("%s: PDB %s has no selector", dir, p.Name)
			continue
		}
		for svc, d := range m.deployments {
			if selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				protected[svc] = true
			}
		}
	}
	for _, svc := range []string{"api", "writer"} {
		if !scaled[svc] {
			t.Errorf("%s: no HorizontalPodAutoscaler for %s", dir, svc)
		}
		if !protected[svc] {
			t.Errorf("%s: no PodDisruptionBudget selects the %s pods", dir, svc)
		}
	}
	// Replicated api pods cannot share bleve, which one process opens.
	if api := m.deployments["api"]; api != nil && (scaled["api"] || api.Spec.Replicas == nil || *api.Spec.Replicas > 1) {
		if e := resolved["api"]; e["SEARCH_BACKEND"] != "elasticsearch" || e["ELASTICSEARCH_URL"] == "" {
			t.Errorf("%s: the api runs replicated but searches with SEARCH_BACKEND %q, ELASTICSEARCH_URL %q; want elasticsearch", dir, e["SEARCH_BACKEND"], e["ELASTICSEARCH_URL"])
		}
	}
	checkNetworkPolicies(t, dir, m)
	for _, s := range m.services {
		var target *appsv1.Deployment
		for _, d := range m.deployments {
			if selects(s.Spec.Selector, d.Spec.Template.Labels) {
				target = d
			}
		}
		if target == nil {
			t.Errorf("%s: Service %s selects no Deployment's pods", dir, s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if !hasPort(target.Spec.Template.Spec.Containers[0], p.TargetPort, "") {
				t.Errorf("%s: Service %s port %s targets %s, which deployment %s does not expose", dir, s.Name, p.Name, p.TargetPort.String(), target.Name)
			}
		}
	}
}

// checkDeployment checks one service's Deployment and returns its container's resolved environment.
func checkDeployment(t *testing.T, dir string, m manifests, d *appsv1.Deployment, reads serviceEnv, port string) map[string]string {
	t.Helper()
	where := dir + ": deployment " + d.Name
	pod := d.Spec.Template
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("%s: the selector does not match the pod template's labels", where)
	}
	c := pod.Spec.Containers[0]
	if pod.Labels["app.kubernetes.io/component"] != c.Name || pod.Labels["app.kubernetes.io/part-of"] != "instachat" {
		t.Errorf("%s: pod labels %v: want app.kubernetes.io/component=%s and part-of=instachat (deploy/prometheus/kubernetes.yml keys on them)", where, pod.Labels, c.Name)
	}
	for k, want := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": "/metrics"} {
		if got := pod.Annotations[k]; got != want {
			t.Errorf("%s: annotation %s = %q, want %q", where, k, got, want)
		}
	}
	if c.Image == "" {
		t.Errorf("%s: no image", where)
	}
	if !hasPort(c, intstr.FromString("http"), port) {
		t.Errorf("%s: want a container port named http on %s (the service's HTTP_ADDR default)", where, port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", where, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || !hasPort(c, p.probe.HTTPGet.Port, port) {
			t.Errorf("%s: %s probe GETs %s on %s, want %s on %s", where, p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, port)
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim {
			t.Errorf("%s: want %s requests and limits, got %v / %v", where, res, c.Resources.Requests, c.Resources.Limits)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above the limit %s", where, res, req.String(), lim.String())
		}
	}
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	nonRoot := csc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	user := csc.RunAsUser
	if user == nil {
		user = psc.RunAsUser
	}
	if nonRoot == nil || !*nonRoot || user == nil || *user != 65532 {
		t.Errorf("%s: want runAsNonRoot and runAsUser 65532 (the image's nonroot user)", where)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("%s: want readOnlyRootFilesystem and no privilege escalation", where)
	}

	got := m.containerEnv(t, dir, c)
	for _, name := range sortedKeys(got) {
		if _, ok := reads[name]; !ok {
			t.Errorf("%s: the container gets %s, which %s does not read", where, name, c.Name)
		}
	}
	for name, v := range reads {
		if _, ok := got[name]; v.Required && !ok {
			t.Errorf("%s: %s requires %s, which the container does not get", where, c.Name, name)
		}
	}
	return got
}

// hasPort tells whether the container exposes p (by name or number); with
// want set, the port must also be that number.
func hasPort(c corev1.Container, p intstr.IntOrString, want string) bool {
	for _, cp := range c.Ports {
		match := (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal)
		if match && (want == "" || strconv.Itoa(int(cp.ContainerPort)) == want) {
			return true
		}
	}
	return false
}

func TestKubernetesBase(t *testing.T) {
	dir := k8sDir + "/base"
	m := buildKustomization(t, dir)
	checkManifests(t, dir, m, readEnv(t))
	checkGeneratedSecret(t, dir, m)
}

func TestKubernetesExampleOverlay(t *testing.T) {
	dir := k8sDir + "/overlays/example"
	m := buildKustomization(t, dir)
	env := readEnv(t)
	checkManifests(t, dir, m, env)
	checkGeneratedSecret(t, dir, m)
	base := buildKustomization(t, k8sDir+"/base")
	for svc, d := range m.deployments {
		img := d.Spec.Template.Spec.Containers[0].Image
		if !strings.HasPrefix(img, "registry.example.com/") || !strings.HasSuffix(img, ":1.0.0") {
			t.Errorf("%s: %s image %q, want the overlay's registry and tag", dir, svc, img)
		}
		if b := base.deployments[svc]; svc != "cron" && b != nil && *d.Spec.Replicas <= *b.Spec.Replicas {
			t.Errorf("%s: %s replicas %d, want more than the base's %d (the overlay's patch)", dir, svc, *d.Spec.Replicas, *b.Spec.Replicas)
		}
	}
	api := m.containerEnv(t, dir, m.deployments["api"].Spec.Template.Spec.Containers[0])
	baseAPI := base.containerEnv(t, dir, base.deployments["api"].Spec.Template.Spec.Containers[0])
	if api["ELASTICSEARCH_URL"] == baseAPI["ELASTICSEARCH_URL"] {
		t.Errorf("%s: ELASTICSEARCH_URL %q is the base's placeholder; the overlay should set its cluster", dir, api["ELASTICSEARCH_URL"])
	}
}
