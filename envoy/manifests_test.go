package envoy_test

// Kubernetes and Istio manifests are checked structurally here, with
// yaml.v3 and the rules below, for how the files fit together (selectors,
// ports, mounted ConfigMaps, mesh peer authentication). test/manifests
// decodes each one with the real k8s.io/api and istio.io/api types and holds
// the per-object deployment rules. What Envoy itself reads (the typed_config
// of EnvoyFilter patches, bootstraps in ConfigMaps) is parsed with Envoy's
// own API and protoc-gen-validate rules, like any bootstrap.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
)

// The ports mcpguard's manifests expose.
const (
	grpcPort  = 9002
	adminPort = 9090
)

// knownKinds are the apiVersion/kind pairs the examples may use; anything
// else fails, so a new kind of manifest gets checks before it lands.
var knownKinds = map[string]string{
	"Namespace":               "v1",
	"ConfigMap":               "v1",
	"Service":                 "v1",
	"ServiceAccount":          "v1",
	"Deployment":              "apps/v1",
	"PodDisruptionBudget":     "policy/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"NetworkPolicy":           "networking.k8s.io/v1",
	"EnvoyFilter":             "networking.istio.io/v1alpha3",
	"ServiceEntry":            "networking.istio.io/v1",
	"DestinationRule":         "networking.istio.io/v1",
	"Gateway":                 "networking.istio.io/v1",
	"VirtualService":          "networking.istio.io/v1",
	"RequestAuthentication":   "security.istio.io/v1",
	"AuthorizationPolicy":     "security.istio.io/v1",
	"PeerAuthentication":      "security.istio.io/v1",
	"Sidecar":                 "networking.istio.io/v1",
}

// node navigates decoded YAML.
type node struct{ v any }

func nd(v any) node { return node{v: v} }

func (n node) get(path string) node {
	v := n.v
	for k := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nd(nil)
		}
		v = m[k]
	}
	return nd(v)
}

func (n node) str() string             { s, _ := n.v.(string); return s }
func (n node) list() []any             { l, _ := n.v.([]any); return l }
func (n node) mapping() map[string]any { m, _ := n.v.(map[string]any); return m }
func (n node) boolean() bool           { b, _ := n.v.(bool); return b }
func (n node) integer() int            { i, _ := n.v.(int); return i }
func (n node) exists() bool            { return n.v != nil }

func labels(n node) map[string]string {
	out := map[string]string{}
	for k, v := range n.mapping() {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// selects reports whether a non-empty selector matches the labels.
func selects(selector, lbls map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if lbls[k] != v {
			return false
		}
	}
	return true
}

type manifestSet struct {
	t    *testing.T
	docs []exampleDoc
}

func (s manifestSet) byKind(kind string) []exampleDoc {
	var out []exampleDoc
	for _, d := range s.docs {
		if d.doc["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

func (s manifestSet) named(kind, name string) (node, bool) {
	for _, d := range s.byKind(kind) {
		if nd(d.doc).get("metadata.name").str() == name {
			return nd(d.doc), true
		}
	}
	return nd(nil), false
}

// namedNear is named, preferring a manifest in the same folder as file:
// the Istio variant overrides a ConfigMap of the Kubernetes one.
func (s manifestSet) namedNear(file, kind, name string) (node, bool) {
	for _, d := range s.byKind(kind) {
		if filepath.Dir(d.file) == filepath.Dir(file) && nd(d.doc).get("metadata.name").str() == name {
			return nd(d.doc), true
		}
	}
	return s.named(kind, name)
}

// deploymentFor finds the Deployment whose pods a selector picks.
func (s manifestSet) deploymentFor(selector map[string]string) (node, bool) {
	for _, d := range s.byKind("Deployment") {
		n := nd(d.doc)
		if selects(selector, labels(n.get("spec.template.metadata.labels"))) {
			return n, true
		}
	}
	return nd(nil), false
}

// envoyPods are the label sets of pods that run an Envoy with mcpguard's
// ext_proc filter: Deployments of an Envoy image, and the workloads
// EnvoyFilters select.
func (s manifestSet) envoyPods() []map[string]string {
	var out []map[string]string
	for _, d := range s.byKind("Deployment") {
		n := nd(d.doc)
		for _, c := range n.get("spec.template.spec.containers").list() {
			if strings.Contains(nd(c).get("image").str(), "envoyproxy/envoy") {
				out = append(out, labels(n.get("spec.template.metadata.labels")))
			}
		}
	}
	for _, d := range s.byKind("EnvoyFilter") {
		out = append(out, labels(nd(d.doc).get("spec.workloadSelector.labels")))
	}
	return out
}

func checkManifests(t *testing.T, docs []exampleDoc) {
	t.Helper()
	s := manifestSet{t: t, docs: docs}
	s.checkMeshPeerAuth(t)
	for _, d := range docs {
		n := nd(d.doc)
		kind, api := n.get("kind").str(), n.get("apiVersion").str()
		where := fmt.Sprintf("%s %s/%s", d.file, kind, n.get("metadata.name").str())
		t.Run(where, func(t *testing.T) {
			want, ok := knownKinds[kind]
			if !ok {
				t.Fatalf("kind %s has no checks", kind)
			}
			if api != want {
				t.Errorf("apiVersion %s, want %s", api, want)
			}
			if n.get("metadata.name").str() == "" {
				t.Error("metadata.name is missing")
			}
			if kind != "Namespace" && n.get("metadata.namespace").str() == "" {
				t.Error("metadata.namespace is missing")
			}
			switch kind {
			case "Namespace":
				if n.get("metadata.labels").mapping()["pod-security.kubernetes.io/enforce"] != "restricted" {
					t.Error("the namespace does not enforce the restricted Pod Security Standard")
				}
			case "ConfigMap":
				s.checkConfigMap(t, d)
			case "Deployment":
				s.checkDeployment(t, n)
			case "Service":
				s.checkService(t, n)
			case "PodDisruptionBudget":
				if _, ok := s.deploymentFor(labels(n.get("spec.selector.matchLabels"))); !ok {
					t.Error("selector matches no Deployment")
				}
				if !n.get("spec.minAvailable").exists() && !n.get("spec.maxUnavailable").exists() {
					t.Error("neither minAvailable nor maxUnavailable is set")
				}
			case "HorizontalPodAutoscaler":
				ref := n.get("spec.scaleTargetRef")
				if _, ok := s.named(ref.get("kind").str(), ref.get("name").str()); !ok || ref.get("kind").str() != "Deployment" {
					t.Errorf("scaleTargetRef %v names no Deployment here", ref.v)
				}
				lo, hi := n.get("spec.minReplicas").integer(), n.get("spec.maxReplicas").integer()
				if lo < 2 || hi < lo {
					t.Errorf("minReplicas %d, maxReplicas %d: want at least 2 replicas and max >= min", lo, hi)
				}
				if len(n.get("spec.metrics").list()) == 0 {
					t.Error("no metrics")
				}
			case "NetworkPolicy":
				s.checkNetworkPolicy(t, n)
			case "EnvoyFilter":
				s.checkEnvoyFilter(t, n)
			case "ServiceEntry":
				if len(n.get("spec.hosts").list()) == 0 || n.get("spec.location").str() != "MESH_EXTERNAL" || n.get("spec.resolution").str() != "DNS" {
					t.Error("want hosts, location MESH_EXTERNAL and resolution DNS")
				}
			case "DestinationRule":
				s.checkDestinationRule(t, n)
			case "Gateway":
				for _, srv := range n.get("spec.servers").list() {
					if m := nd(srv).get("tls.mode").str(); m != "SIMPLE" && m != "MUTUAL" {
						t.Errorf("server %v does not terminate TLS", nd(srv).get("port").v)
					}
				}
			case "VirtualService":
				s.checkVirtualService(t, n)
			case "RequestAuthentication":
				for _, r := range n.get("spec.jwtRules").list() {
					r := nd(r)
					if r.get("issuer").str() == "" || r.get("jwksUri").str() == "" {
						t.Error("jwtRules need issuer and jwksUri")
					}
					if !r.get("forwardOriginalToken").boolean() {
						t.Errorf("jwtRule %s: forwardOriginalToken is not true: Istio strips the token after verifying it, and mcpguard needs it for STS AssumeRoleWithWebIdentity", r.get("issuer").str())
					}
				}
			case "PeerAuthentication":
				s.checkPeerAuthentication(t, n)
			case "Sidecar":
				s.checkSidecar(t, d)
			case "AuthorizationPolicy":
				if a := n.get("spec.action").str(); a != "ALLOW" && a != "DENY" {
					t.Errorf("action %q", a)
				}
				if len(n.get("spec.rules").list()) == 0 {
					t.Error("no rules")
				}
			}
		})
	}
}

// checkConfigMap validates what a ConfigMap carries: an mcpguard
// configuration (loaded with the policies ConfigMap beside it), Cedar
// policies (equal to examples/policies), or a generated Envoy bootstrap.
func (s manifestSet) checkConfigMap(t *testing.T, d exampleDoc) {
	t.Helper()
	data := nd(d.doc).get("data").mapping()
	for key, v := range data {
		text, _ := v.(string)
		switch {
		case key == "config.yaml":
			cfg := s.loadConfigMapConfig(t, text)
			checkPeerAuthenticated(t, cfg)
			checkGenerated(t, cfg)
		case strings.HasSuffix(key, ".cedar"):
			want, err := os.ReadFile(filepath.Join(examplesDir, "policies", key))
			if err != nil || string(want) != text {
				t.Errorf("%s differs from examples/policies/%s (%v)", key, key, err)
			}
		case key == "envoy.yaml":
			s.checkBootstrapFilesMounted(t, d, text)
			checkExampleBootstrap(t, []byte(text), "", func(p string) (*config.Config, error) {
				if p != "config.yaml" {
					return nil, fmt.Errorf("bootstrap generated from %s, want config.yaml of the mcpguard-config ConfigMap", p)
				}
				cm, ok := s.namedNear(d.file, "ConfigMap", "mcpguard-config")
				if !ok {
					return nil, fmt.Errorf("no mcpguard-config ConfigMap")
				}
				return s.loadConfigMapConfig(t, cm.get("data").mapping()["config.yaml"].(string)), nil
			})
		default:
			t.Errorf("data key %s has no check", key)
		}
	}
}

// loadConfigMapConfig lays the configuration out as the Deployment mounts
// it (config.yaml beside policies/) and loads it.
func (s manifestSet) loadConfigMapConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if pol, ok := s.named("ConfigMap", "mcpguard-policies"); ok {
		if err := os.Mkdir(filepath.Join(dir, "policies"), 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range pol.get("data").mapping() {
			if err := os.WriteFile(filepath.Join(dir, "policies", k), []byte(v.(string)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Secrets are not examples (they hold keys): every item the mcpguard
	// Deployment projects beside config.yaml gets a placeholder file, so
	// a grpc_tls path that no Secret provides fails to load.
	for _, item := range s.projectedSecretItems() {
		p := filepath.Join(dir, filepath.FromSlash(item))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("placeholder for a Secret item\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatalf("mcpguard configuration in ConfigMap: %v", err)
	}
	return cfg
}

// projectedSecretItems are the paths of Secret items projected into the
// mcpguard container's configuration volume, relative to config.yaml.
func (s manifestSet) projectedSecretItems() []string {
	var out []string
	for _, d := range s.byKind("Deployment") {
		pod := nd(d.doc).get("spec.template.spec")
		for _, v := range pod.get("volumes").list() {
			for _, src := range nd(v).get("projected.sources").list() {
				for _, it := range nd(src).get("secret.items").list() {
					out = append(out, nd(it).get("path").str())
				}
			}
		}
	}
	return out
}

// checkPeerAuthenticated is the rule of the ext_proc trust model: whoever
// reaches mcpguard's gRPC port speaks for Envoy, so an example's
// configuration either authenticates the peer itself (server.grpc_tls, a
// unix:// socket) or listens on loopback only, behind a proxy that does
// (an Istio sidecar with STRICT mutual TLS).
func checkPeerAuthenticated(t *testing.T, cfg *config.Config) {
	t.Helper()
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("the ext_proc listener accepts unauthenticated peers: %s", strings.Join(w, "; "))
	}
}

func (s manifestSet) checkDeployment(t *testing.T, n node) {
	t.Helper()
	sel := labels(n.get("spec.selector.matchLabels"))
	if !selects(sel, labels(n.get("spec.template.metadata.labels"))) {
		t.Error("spec.selector does not match the pod template labels")
	}
	var hpa node
	for _, d := range s.byKind("HorizontalPodAutoscaler") {
		h := nd(d.doc)
		if h.get("spec.scaleTargetRef.kind").str() == "Deployment" && h.get("spec.scaleTargetRef.name").str() == n.get("metadata.name").str() {
			hpa = h
		}
	}
	switch {
	case hpa.exists() && n.get("spec.replicas").exists():
		t.Error("replicas is set next to a HorizontalPodAutoscaler: every apply resets the autoscaler's count")
	case hpa.exists() && hpa.get("spec.minReplicas").integer() < 2:
		t.Error("the HorizontalPodAutoscaler's minReplicas is below 2: one pod restart would fail every request closed")
	case !hpa.exists() && n.get("spec.replicas").integer() < 2:
		t.Error("fewer than 2 replicas: one pod restart would fail every request closed")
	}
	pod := n.get("spec.template.spec")
	podNonRoot := pod.get("securityContext.runAsNonRoot").boolean()
	if pod.get("securityContext.seccompProfile.type").str() != "RuntimeDefault" {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	if pod.get("automountServiceAccountToken").v != false {
		t.Error("automountServiceAccountToken is not false: neither mcpguard nor Envoy calls the Kubernetes API")
	}
	mountable := map[string]bool{}
	for _, v := range pod.get("volumes").list() {
		v := nd(v)
		mountable[v.get("name").str()] = true
		var cms []string
		if cm := v.get("configMap.name").str(); cm != "" {
			cms = append(cms, cm)
		}
		for _, src := range v.get("projected.sources").list() {
			if cm := nd(src).get("configMap.name").str(); cm != "" || !nd(src).get("secret").exists() {
				cms = append(cms, cm)
			}
		}
		for _, cm := range cms {
			if _, ok := s.named("ConfigMap", cm); !ok {
				t.Errorf("volume %s uses ConfigMap %s, which the examples do not define", v.get("name").str(), cm)
			}
		}
	}
	for _, c := range pod.get("containers").list() {
		c := nd(c)
		name := c.get("name").str()
		sc := c.get("securityContext")
		if !podNonRoot && !sc.get("runAsNonRoot").boolean() {
			t.Errorf("container %s may run as root", name)
		}
		if !sc.get("readOnlyRootFilesystem").boolean() || sc.get("allowPrivilegeEscalation").v != false ||
			!slices.Contains(sc.get("capabilities.drop").list(), any("ALL")) {
			t.Errorf("container %s: want readOnlyRootFilesystem true, allowPrivilegeEscalation false, capabilities drop ALL", name)
		}
		img := c.get("image").str()
		if !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
			t.Errorf("container %s image %q is not pinned to a version", name, img)
		}
		if !c.get("resources.requests").exists() || !c.get("resources.limits.memory").exists() {
			t.Errorf("container %s has no resource requests or memory limit", name)
		}
		for _, m := range c.get("volumeMounts").list() {
			if !mountable[nd(m).get("name").str()] {
				t.Errorf("container %s mounts an undefined volume %v", name, nd(m).get("name").v)
			}
		}
		if !c.get("readinessProbe").exists() || !c.get("livenessProbe").exists() {
			t.Errorf("container %s lacks readiness or liveness probe", name)
		}
		if name != "mcpguard" {
			continue
		}
		ports := map[string]int{}
		for _, p := range c.get("ports").list() {
			ports[nd(p).get("name").str()] = nd(p).get("containerPort").integer()
		}
		if ports["grpc"] != grpcPort || ports["admin"] != adminPort {
			t.Errorf("mcpguard ports %v, want grpc %d and admin %d", ports, grpcPort, adminPort)
		}
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			p := c.get(probe + ".httpGet")
			if p.get("path").str() != path || (p.get("port").str() != "admin" && p.get("port").integer() != adminPort) {
				t.Errorf("%s is %v, want GET %s on the admin port", probe, p.v, path)
			}
		}
		args := c.get("args").list()
		if len(args) < 3 || args[0] != "serve" || args[1] != "--config" {
			t.Errorf("args %v, want serve --config FILE", args)
		}
	}
	if s := n.get("spec.template.spec.terminationGracePeriodSeconds").integer(); s <= 15 {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than server.shutdown_grace (15s)", s)
	}
}

func (s manifestSet) checkService(t *testing.T, n node) {
	t.Helper()
	dep, ok := s.deploymentFor(labels(n.get("spec.selector")))
	if !ok {
		t.Fatal("selector matches no Deployment")
	}
	named := map[string]bool{}
	for _, c := range dep.get("spec.template.spec.containers").list() {
		for _, p := range nd(c).get("ports").list() {
			named[nd(p).get("name").str()] = true
		}
	}
	for _, p := range n.get("spec.ports").list() {
		p := nd(p)
		if tp := p.get("targetPort").str(); tp != "" && !named[tp] {
			t.Errorf("port %s targets %q, which no container port is named", p.get("name").str(), tp)
		}
		if p.get("port").integer() == grpcPort && p.get("appProtocol").str() != "grpc" {
			t.Errorf("port %d is mcpguard's gRPC port but appProtocol is not grpc: a mesh would not speak HTTP/2 to it", grpcPort)
		}
	}
}

// checkNetworkPolicy: a policy for mcpguard pods lets only Envoy pods reach
// the gRPC port.
func (s manifestSet) checkNetworkPolicy(t *testing.T, n node) {
	t.Helper()
	target := labels(n.get("spec.podSelector.matchLabels"))
	dep, ok := s.deploymentFor(target)
	if !ok {
		t.Fatal("podSelector matches no Deployment")
	}
	if !slices.Contains(n.get("spec.policyTypes").list(), any("Ingress")) {
		// An egress-only policy (the sidecar's way to istiod) opens
		// nothing to callers; test/manifests checks it.
		if slices.Contains(n.get("spec.policyTypes").list(), any("Egress")) && !n.get("spec.ingress").exists() {
			return
		}
		t.Error("policyTypes does not include Ingress")
	}
	isMCPGuard := false
	for _, c := range dep.get("spec.template.spec.containers").list() {
		isMCPGuard = isMCPGuard || nd(c).get("name").str() == "mcpguard"
	}
	if !isMCPGuard {
		return
	}
	envoys := s.envoyPods()
	grpcRules := 0
	for _, r := range n.get("spec.ingress").list() {
		r := nd(r)
		reachesGRPC := len(r.get("ports").list()) == 0
		for _, p := range r.get("ports").list() {
			reachesGRPC = reachesGRPC || nd(p).get("port").integer() == grpcPort
		}
		if !reachesGRPC {
			continue
		}
		grpcRules++
		peers := r.get("from").list()
		if len(peers) == 0 {
			t.Error("an ingress rule opens the gRPC port to every source")
		}
		for _, p := range peers {
			sel := labels(nd(p).get("podSelector.matchLabels"))
			if nd(p).get("ipBlock").exists() || !slices.ContainsFunc(envoys, func(e map[string]string) bool { return selects(sel, e) }) {
				t.Errorf("peer %v may reach the gRPC port but selects no Envoy pod of the examples", nd(p).v)
			}
		}
	}
	if grpcRules == 0 {
		t.Error("no ingress rule for the gRPC port")
	}
}

// checkEnvoyFilter parses every patch value with Envoy's API and applies
// mcpguard's ext_proc rules to the filter it inserts.
func (s manifestSet) checkEnvoyFilter(t *testing.T, n node) {
	t.Helper()
	if len(labels(n.get("spec.workloadSelector.labels"))) == 0 {
		t.Error("no workloadSelector: the filter would apply to every proxy in the namespace")
	}
	var disabledFilter, enabledRoutes int
	for i, p := range n.get("spec.configPatches").list() {
		p := nd(p)
		value, err := json.Marshal(p.get("patch.value").v)
		if err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("configPatches[%d]", i)
		switch p.get("applyTo").str() {
		case "HTTP_FILTER":
			f := &hcmv3.HttpFilter{}
			if err := envoy.Unmarshal(value, f); err != nil {
				t.Errorf("%s: not an Envoy HttpFilter: %v", where, err)
				continue
			}
			ep := &extprocfilterv3.ExternalProcessor{}
			if f.GetTypedConfig().UnmarshalTo(ep) != nil {
				t.Errorf("%s inserts %s, not mcpguard's ext_proc", where, f.GetName())
				continue
			}
			if f.GetName() != envoy.FilterExtProc {
				t.Errorf("%s: filter name %q, want %s", where, f.GetName(), envoy.FilterExtProc)
			}
			for _, pr := range envoy.CheckExtProc(where, ep) {
				t.Error(pr)
			}
			if p.get("match.listener.filterChain.filter.subFilter.name").str() != envoy.FilterRouter || p.get("patch.operation").str() != "INSERT_BEFORE" {
				t.Errorf("%s: want INSERT_BEFORE the router", where)
			}
			s.checkIstioCluster(t, where, ep.GetGrpcService().GetEnvoyGrpc().GetClusterName())
			if f.GetDisabled() {
				disabledFilter++
			}
		case "HTTP_ROUTE":
			tpfc := p.get("patch.value.typed_per_filter_config").mapping()
			if len(tpfc) == 0 {
				t.Errorf("%s: route patch without typed_per_filter_config", where)
			}
			for name, cfg := range tpfc {
				raw, _ := json.Marshal(cfg)
				a := &anypb.Any{}
				if err := envoy.Unmarshal(raw, a); err != nil {
					t.Errorf("%s: typed_per_filter_config[%s]: %v", where, name, err)
					continue
				}
				pr := &extprocfilterv3.ExtProcPerRoute{}
				if fc := (&routev3.FilterConfig{}); a.UnmarshalTo(fc) == nil {
					a = fc.GetConfig()
				}
				if name == envoy.FilterExtProc && a.UnmarshalTo(pr) == nil && !pr.GetDisabled() {
					if pr.GetOverrides().GetFailureModeAllow().GetValue() {
						t.Errorf("%s: per-route failure_mode_allow is true", where)
					}
					enabledRoutes++
				}
			}
		case "CLUSTER":
			if err := envoy.Unmarshal(value, &clusterv3.Cluster{}); err != nil {
				t.Errorf("%s: not an Envoy Cluster: %v", where, err)
			}
		default:
			t.Errorf("%s: applyTo %s has no check", where, p.get("applyTo").str())
		}
	}
	if disabledFilter > 0 && enabledRoutes == 0 {
		t.Error("ext_proc is inserted disabled and no route enables it: nothing is authorized or signed")
	}
}

// checkIstioCluster: an outbound|PORT||HOST cluster must be a Service of
// the examples whose port is declared gRPC (HTTP/2).
func (s manifestSet) checkIstioCluster(t *testing.T, where, cluster string) {
	t.Helper()
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		t.Errorf("%s: cluster %q is not an Istio outbound|PORT||HOST cluster", where, cluster)
		return
	}
	host := strings.Split(parts[3], ".")
	if len(host) < 2 {
		t.Errorf("%s: cluster host %q is not a Service FQDN", where, parts[3])
		return
	}
	for _, d := range s.byKind("Service") {
		n := nd(d.doc)
		if n.get("metadata.name").str() != host[0] || n.get("metadata.namespace").str() != host[1] {
			continue
		}
		for _, p := range n.get("spec.ports").list() {
			if fmt.Sprint(nd(p).get("port").integer()) == parts[1] {
				if nd(p).get("appProtocol").str() != "grpc" && !strings.HasPrefix(nd(p).get("name").str(), "grpc") {
					t.Errorf("%s: Service port %s is not declared gRPC, so Istio would not use HTTP/2", where, parts[1])
				}
				return
			}
		}
	}
	t.Errorf("%s: cluster %q names no Service port of the examples", where, cluster)
}

// checkDestinationRule: every port of the external service is reached over
// TLS with the AWS host as SNI and verified name.
func (s manifestSet) checkDestinationRule(t *testing.T, n node) {
	t.Helper()
	host := n.get("spec.host").str()
	var entry node
	for _, d := range s.byKind("ServiceEntry") {
		if slices.Contains(nd(d.doc).get("spec.hosts").list(), any(host)) {
			entry = nd(d.doc)
		}
	}
	if !entry.exists() {
		t.Fatalf("host %s is no ServiceEntry host", host)
	}
	tlsFor := map[int]node{}
	for _, pl := range n.get("spec.trafficPolicy.portLevelSettings").list() {
		tlsFor[nd(pl).get("port.number").integer()] = nd(pl).get("tls")
	}
	for _, p := range entry.get("spec.ports").list() {
		port := nd(p).get("number").integer()
		tls, ok := tlsFor[port]
		if !ok {
			tls = n.get("spec.trafficPolicy.tls")
		}
		if tls.get("mode").str() != "SIMPLE" || tls.get("sni").str() != host || !slices.Contains(tls.get("subjectAltNames").list(), any(host)) {
			t.Errorf("port %d: want tls mode SIMPLE with sni and subjectAltNames %s, got %v", port, host, tls.v)
		}
	}
}

// checkVirtualService: a route to an external (signed) host rewrites the
// authority to that host, keeps the path and has no timeout.
func (s manifestSet) checkVirtualService(t *testing.T, n node) {
	t.Helper()
	external := map[string]bool{}
	for _, d := range s.byKind("ServiceEntry") {
		for _, h := range nd(d.doc).get("spec.hosts").list() {
			external[fmt.Sprint(h)] = true
		}
	}
	for _, r := range n.get("spec.http").list() {
		r := nd(r)
		for _, dst := range r.get("route").list() {
			host := nd(dst).get("destination.host").str()
			if !external[host] {
				continue
			}
			if r.get("rewrite.authority").str() != host {
				t.Errorf("route %s: rewrite.authority %q is not the signing host %q", r.get("name").str(), r.get("rewrite.authority").str(), host)
			}
			if r.get("rewrite.uri").exists() || r.get("rewrite.uriRegexRewrite").exists() {
				t.Errorf("route %s rewrites the path after mcpguard signed it", r.get("name").str())
			}
			if r.get("timeout").str() != "0s" {
				t.Errorf("route %s: timeout %v, want 0s for SSE streams", r.get("name").str(), r.get("timeout").v)
			}
		}
	}
}

// mcpguardPods are the pod labels of the mcpguard Deployment.
func (s manifestSet) mcpguardPods() map[string]string {
	for _, d := range s.byKind("Deployment") {
		n := nd(d.doc)
		for _, c := range n.get("spec.template.spec.containers").list() {
			if nd(c).get("name").str() == "mcpguard" {
				return labels(n.get("spec.template.metadata.labels"))
			}
		}
	}
	return nil
}

// checkPeerAuthentication: a PeerAuthentication of mcpguard's pods is
// STRICT on every port; a PERMISSIVE or DISABLE port would let plaintext
// peers open ext_proc streams.
func (s manifestSet) checkPeerAuthentication(t *testing.T, n node) {
	t.Helper()
	if !selects(labels(n.get("spec.selector.matchLabels")), s.mcpguardPods()) {
		t.Error("selects no mcpguard pod: the mesh default (PERMISSIVE) would apply")
	}
	if m := n.get("spec.mtls.mode").str(); m != "STRICT" {
		t.Errorf("mtls.mode %q, want STRICT", m)
	}
	for port, pl := range n.get("spec.portLevelMtls").mapping() {
		if m := nd(pl).get("mode").str(); m != "STRICT" {
			t.Errorf("portLevelMtls[%s] mode %q weakens STRICT", port, m)
		}
	}
}

// checkSidecar: mcpguard's sidecar delivers the gRPC port to the loopback
// address the configuration in the same folder listens on.
func (s manifestSet) checkSidecar(t *testing.T, d exampleDoc) {
	t.Helper()
	n := nd(d.doc)
	if !selects(labels(n.get("spec.workloadSelector.labels")), s.mcpguardPods()) {
		t.Fatal("workloadSelector selects no mcpguard pod")
	}
	cm, ok := s.namedNear(d.file, "ConfigMap", "mcpguard-config")
	if !ok {
		t.Fatal("no mcpguard-config ConfigMap")
	}
	cfg := s.loadConfigMapConfig(t, cm.get("data").mapping()["config.yaml"].(string))
	found := false
	for _, in := range n.get("spec.ingress").list() {
		in := nd(in)
		if in.get("port.number").integer() != grpcPort {
			continue
		}
		found = true
		if ep := in.get("defaultEndpoint").str(); ep != cfg.Server.GRPCListen || !strings.HasPrefix(ep, "127.0.0.1:") {
			t.Errorf("port %d goes to %q; want the loopback server.grpc_listen %q", grpcPort, ep, cfg.Server.GRPCListen)
		}
		if p := in.get("port.protocol").str(); p != "GRPC" {
			t.Errorf("port %d protocol %q, want GRPC (HTTP/2)", grpcPort, p)
		}
	}
	if !found {
		t.Errorf("no ingress for port %d", grpcPort)
	}
}

// checkMeshPeerAuth: in a folder whose EnvoyFilters make Istio's proxies
// mcpguard's ext_proc clients, the mesh must authenticate that peer: a
// STRICT PeerAuthentication of mcpguard's pods, a Sidecar that keeps the
// gRPC port off the pod IP, and an ALLOW AuthorizationPolicy that names the
// callers of the gRPC port by principal.
func (s manifestSet) checkMeshPeerAuth(t *testing.T) {
	t.Helper()
	dirs := map[string]bool{}
	for _, d := range s.byKind("EnvoyFilter") {
		dirs[filepath.Dir(d.file)] = true
	}
	for dir := range dirs {
		in := func(kind string) []node {
			var out []node
			for _, d := range s.byKind(kind) {
				if filepath.Dir(d.file) == dir {
					out = append(out, nd(d.doc))
				}
			}
			return out
		}
		pods := s.mcpguardPods()
		strict := slices.ContainsFunc(in("PeerAuthentication"), func(n node) bool {
			return n.get("spec.mtls.mode").str() == "STRICT" && selects(labels(n.get("spec.selector.matchLabels")), pods)
		})
		if !strict {
			t.Errorf("%s: no STRICT PeerAuthentication selects mcpguard's pods: any pod could open ext_proc streams in plaintext", dir)
		}
		if !slices.ContainsFunc(in("Sidecar"), func(n node) bool {
			return selects(labels(n.get("spec.workloadSelector.labels")), pods)
		}) {
			t.Errorf("%s: no Sidecar keeps mcpguard's gRPC port on loopback", dir)
		}
		callers := false
		for _, ap := range in("AuthorizationPolicy") {
			if ap.get("spec.action").str() != "ALLOW" || !selects(labels(ap.get("spec.selector.matchLabels")), pods) {
				continue
			}
			for _, r := range ap.get("spec.rules").list() {
				r := nd(r)
				grpc := false
				for _, to := range r.get("to").list() {
					grpc = grpc || slices.Contains(nd(to).get("operation.ports").list(), any(fmt.Sprint(grpcPort)))
				}
				if !grpc {
					continue
				}
				from := r.get("from").list()
				named := len(from) > 0
				for _, f := range from {
					named = named && len(nd(f).get("source.principals").list()) > 0
				}
				if !named {
					t.Errorf("%s: AuthorizationPolicy %s opens port %d without naming the callers' principals", dir, ap.get("metadata.name").str(), grpcPort)
				}
				callers = callers || named
			}
		}
		if !callers {
			t.Errorf("%s: no ALLOW AuthorizationPolicy names the principals that may call mcpguard's gRPC port", dir)
		}
	}
}

// checkBootstrapFilesMounted: every certificate and key file a generated
// bootstrap names (the listener's, and the client certificate Envoy
// presents to mcpguard) is mounted from a Secret into the Envoy container
// that runs this bootstrap; a missing mount would leave Envoy unable to
// authenticate to mcpguard, failing every request.
func (s manifestSet) checkBootstrapFilesMounted(t *testing.T, cm exampleDoc, text string) {
	t.Helper()
	args := generatedBy([]byte(text))
	var files []string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--tls-cert", "--tls-key", "--mcpguard-client-cert", "--mcpguard-client-key", "--mcpguard-ca":
			files = append(files, args[i+1])
		}
	}
	name := nd(cm.doc).get("metadata.name").str()
	for _, d := range s.byKind("Deployment") {
		pod := nd(d.doc).get("spec.template.spec")
		secrets := map[string]bool{}
		uses := false
		for _, v := range pod.get("volumes").list() {
			v := nd(v)
			secrets[v.get("name").str()] = v.get("secret.secretName").str() != ""
			uses = uses || v.get("configMap.name").str() == name
		}
		if !uses {
			continue
		}
		for _, f := range files {
			mounted := false
			for _, c := range pod.get("containers").list() {
				for _, m := range nd(c).get("volumeMounts").list() {
					m := nd(m)
					if secrets[m.get("name").str()] && strings.HasPrefix(f, strings.TrimSuffix(m.get("mountPath").str(), "/")+"/") {
						mounted = true
					}
				}
			}
			if !mounted {
				t.Errorf("Deployment %s runs the bootstrap of %s but mounts no Secret at %s", nd(d.doc).get("metadata.name").str(), name, f)
			}
		}
	}
}
