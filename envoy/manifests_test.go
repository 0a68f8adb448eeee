package envoy_test

// Kubernetes and Istio manifests are checked structurally here, with
// yaml.v3 and the rules below, instead of by decoding into k8s.io/api and
// istio.io/client-go: those modules would add hundreds of packages to the
// build for a few example files. What Envoy itself reads (the typed_config of
// EnvoyFilter patches, bootstraps in ConfigMaps) is parsed with Envoy's own
// API and protoc-gen-validate rules, like any bootstrap.

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
	s := manifestSet{t: t, docs: docs}
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
	data := nd(d.doc).get("data").mapping()
	for key, v := range data {
		text, _ := v.(string)
		switch {
		case key == "config.yaml":
			cfg := s.loadConfigMapConfig(t, text)
			checkGenerated(t, cfg)
		case strings.HasSuffix(key, ".cedar"):
			want, err := os.ReadFile(filepath.Join(examplesDir, "policies", key))
			if err != nil || string(want) != text {
				t.Errorf("%s differs from examples/policies/%s (%v)", key, key, err)
			}
		case key == "envoy.yaml":
			checkExampleBootstrap(t, []byte(text), "", func(p string) (*config.Config, error) {
				if p != "config.yaml" {
					return nil, fmt.Errorf("bootstrap generated from %s, want config.yaml of the mcpguard-config ConfigMap", p)
				}
				cm, ok := s.named("ConfigMap", "mcpguard-config")
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
	cfg, err := config.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatalf("mcpguard configuration in ConfigMap: %v", err)
	}
	return cfg
}

func (s manifestSet) checkDeployment(t *testing.T, n node) {
	sel := labels(n.get("spec.selector.matchLabels"))
	if !selects(sel, labels(n.get("spec.template.metadata.labels"))) {
		t.Error("spec.selector does not match the pod template labels")
	}
	if n.get("spec.replicas").integer() < 2 {
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
			cms = append(cms, nd(src).get("configMap.name").str())
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
	target := labels(n.get("spec.podSelector.matchLabels"))
	dep, ok := s.deploymentFor(target)
	if !ok {
		t.Fatal("podSelector matches no Deployment")
	}
	if !slices.Contains(n.get("spec.policyTypes").list(), any("Ingress")) {
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
