package manifests_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	yamlv3 "gopkg.in/yaml.v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mcpguard/mcpguard/envoy"
)

const examplesDir = "../../examples"

// object is one manifest: its envelope and its raw JSON.
type object struct {
	file       string
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
	raw        []byte
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.file, o.Kind, o.Metadata.Name) }

// load reads every manifest under examples/: each YAML document with a
// kind and an apiVersion.
func load(t *testing.T) []object {
	t.Helper()
	var out []object
	err := filepath.WalkDir(examplesDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yamlv3.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil // not a manifest file; envoy/examples_test.go owns the rest
			}
			if doc["kind"] == nil || doc["apiVersion"] == nil {
				continue
			}
			y, err := yamlv3.Marshal(doc)
			if err != nil {
				return err
			}
			j, err := yaml.YAMLToJSON(y)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			o := object{file: strings.TrimPrefix(path, examplesDir+"/"), raw: j}
			if err := json.Unmarshal(j, &o); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("only %d manifests found under %s", len(out), examplesDir)
	}
	return out
}

// strict decodes a Kubernetes object, refusing fields the API type lacks.
func strict(t *testing.T, o object, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(o.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: not a valid %s: %v", o, o.Kind, err)
	}
}

// istioSpec decodes an Istio spec with the API's own protobuf types.
func istioSpec(t *testing.T, o object, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(o.Spec, m); err != nil {
		t.Fatalf("%s: not a valid %s spec: %v", o, o.Kind, err)
	}
}

func TestManifests(t *testing.T) {
	objs := load(t)
	var (
		deployments  []*appsv1.Deployment
		hpas         []*autoscalingv2.HorizontalPodAutoscaler
		configs      = map[string]serverTimes{}
		meshPolicies []*networkingv1.NetworkPolicy
	)
	seen := map[string]int{}
	for _, o := range objs {
		seen[o.Kind]++
		switch o.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			strict(t, o, d)
			deployments = append(deployments, d)
		case "HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			strict(t, o, h)
			hpas = append(hpas, h)
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			strict(t, o, p)
			t.Run(o.String(), func(t *testing.T) { checkPDB(t, p) })
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			strict(t, o, cm)
			if text, ok := cm.Data["config.yaml"]; ok {
				configs[o.Metadata.Namespace] = parseServerTimes(t, text)
			}
		case "Service":
			strict(t, o, &corev1.Service{})
		case "NetworkPolicy":
			np := &networkingv1.NetworkPolicy{}
			strict(t, o, np)
			if strings.HasPrefix(o.file, "istio/") {
				meshPolicies = append(meshPolicies, np)
			}
		case "DestinationRule":
			dr := &networkingv1alpha3.DestinationRule{}
			istioSpec(t, o, dr)
			t.Run(o.String(), func(t *testing.T) { checkDestinationRule(t, dr) })
		case "EnvoyFilter":
			ef := &networkingv1alpha3.EnvoyFilter{}
			istioSpec(t, o, ef)
			t.Run(o.String(), func(t *testing.T) { checkEnvoyFilter(t, o, ef) })
		case "VirtualService":
			vs := &networkingv1alpha3.VirtualService{}
			istioSpec(t, o, vs)
			t.Run(o.String(), func(t *testing.T) { checkVirtualService(t, vs) })
		case "AuthorizationPolicy":
			ap := &securityv1beta1.AuthorizationPolicy{}
			istioSpec(t, o, ap)
			t.Run(o.String(), func(t *testing.T) { checkAuthorizationPolicy(t, ap) })
		case "Gateway":
			istioSpec(t, o, &networkingv1alpha3.Gateway{})
		case "ServiceEntry":
			istioSpec(t, o, &networkingv1alpha3.ServiceEntry{})
		case "Sidecar":
			istioSpec(t, o, &networkingv1alpha3.Sidecar{})
		case "RequestAuthentication":
			istioSpec(t, o, &securityv1beta1.RequestAuthentication{})
		case "PeerAuthentication":
			istioSpec(t, o, &securityv1beta1.PeerAuthentication{})
		}
	}
	for _, kind := range []string{"Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "EnvoyFilter", "DestinationRule", "VirtualService"} {
		if seen[kind] == 0 {
			t.Errorf("no %s under examples/: the rules for it check nothing", kind)
		}
	}
	if !reachesIstiod(meshPolicies) {
		t.Error("no NetworkPolicy under examples/istio/ lets mcpguard's pods reach istiod on 15012: in the mesh its sidecar never gets configuration or certificates")
	}
	for _, d := range deployments {
		t.Run("Deployment/"+d.Name, func(t *testing.T) { checkDeployment(t, d, hpas, configs[d.Namespace]) })
	}
}

// serverTimes are the shutdown settings of an mcpguard configuration.
type serverTimes struct{ drain, grace time.Duration }

func parseServerTimes(t *testing.T, text string) serverTimes {
	t.Helper()
	var c struct {
		Server struct {
			DrainDelay    string `yaml:"drain_delay"`
			ShutdownGrace string `yaml:"shutdown_grace"`
		} `yaml:"server"`
	}
	if err := yamlv3.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	st := serverTimes{drain: 10 * time.Second, grace: 15 * time.Second} // config defaults
	var err error
	if c.Server.DrainDelay != "" {
		if st.drain, err = time.ParseDuration(c.Server.DrainDelay); err != nil {
			t.Fatal(err)
		}
	}
	if c.Server.ShutdownGrace != "" {
		if st.grace, err = time.ParseDuration(c.Server.ShutdownGrace); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, hpas []*autoscalingv2.HorizontalPodAutoscaler, st serverTimes) {
	t.Helper()
	for _, h := range hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name && d.Spec.Replicas != nil {
			t.Errorf("replicas %d next to HorizontalPodAutoscaler %s: every apply resets the autoscaler's count", *d.Spec.Replicas, h.Name)
		}
	}
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext: want runAsNonRoot, runAsUser 65532 and seccompProfile RuntimeDefault")
	}
	keys := map[string]bool{}
	for _, c := range pod.TopologySpreadConstraints {
		if c.LabelSelector == nil || !selects(c.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("topology spread on %s does not select the Deployment's own pods", c.TopologyKey)
		}
		keys[c.TopologyKey] = true
	}
	for _, k := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		if !keys[k] {
			t.Errorf("no topologySpreadConstraint on %s: replicas may share one failure domain", k)
		}
	}
	var grace int64 = 30 // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = *pod.TerminationGracePeriodSeconds
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s: want readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL", c.Name)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("container %s lacks a readiness or liveness probe", c.Name)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("container %s has no memory limit", c.Name)
		}
		var sleep int64
		switch {
		case c.Lifecycle == nil || c.Lifecycle.PreStop == nil:
			t.Errorf("container %s has no preStop hook: the pod leaves the endpoints only after SIGTERM, so new requests still arrive at a stopping process (5xx, cut SSE streams)", c.Name)
		case c.Lifecycle.PreStop.Sleep == nil:
			t.Errorf("container %s preStop is not a sleep action: the images have no shell for exec sleep", c.Name)
		default:
			sleep = c.Lifecycle.PreStop.Sleep.Seconds
			if sleep < 5 {
				t.Errorf("container %s preStop sleeps %ds, want at least 5s for endpoints to drop the pod", c.Name, sleep)
			}
		}
		if c.Name != "mcpguard" {
			if grace <= sleep {
				t.Errorf("terminationGracePeriodSeconds %d is not longer than the preStop sleep %ds", grace, sleep)
			}
			continue
		}
		if need := time.Duration(sleep)*time.Second + st.drain + st.grace; time.Duration(grace)*time.Second <= need {
			t.Errorf("terminationGracePeriodSeconds %d is not longer than preStop %ds + server.drain_delay %s + server.shutdown_grace %s", grace, sleep, st.drain, st.grace)
		}
		checkGOMEMLIMIT(t, c)
	}
}

// checkGOMEMLIMIT wants the Go runtime's soft limit set, below the
// container's memory limit with room for what the runtime does not count.
func checkGOMEMLIMIT(t *testing.T, c corev1.Container) {
	t.Helper()
	limit := c.Resources.Limits[corev1.ResourceMemory]
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		v := strings.TrimSuffix(e.Value, "B") // Go spells MiB, Kubernetes Mi
		q, err := resource.ParseQuantity(v)
		if err != nil {
			t.Errorf("GOMEMLIMIT %q: %v", e.Value, err)
			return
		}
		if q.Value() > limit.Value()*95/100 || q.Value() < limit.Value()*70/100 {
			t.Errorf("GOMEMLIMIT %s is not between 70%% and 95%% of limits.memory %s", e.Value, limit.String())
		}
		return
	}
	t.Errorf("container %s has no GOMEMLIMIT: the Go heap grows to the memory limit and the kernel kills the pod", c.Name)
}

func selects(sel, lbls map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lbls[k] != v {
			return false
		}
	}
	return true
}

// reachesIstiod reports whether a policy opens egress from mcpguard's pods
// to TCP 15012 in istio-system.
func reachesIstiod(nps []*networkingv1.NetworkPolicy) bool {
	for _, np := range nps {
		if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "mcpguard" || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			continue
		}
		for _, r := range np.Spec.Egress {
			port := false
			for _, p := range r.Ports {
				port = port || (p.Port != nil && p.Port.IntValue() == 15012)
			}
			for _, peer := range r.To {
				if port && peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "istio-system" {
					return true
				}
			}
		}
	}
	return false
}

func checkPDB(t *testing.T, p *policyv1.PodDisruptionBudget) {
	t.Helper()
	if p.Spec.MinAvailable != nil {
		t.Errorf("minAvailable %s: with an autoscaled replica count it lets a drain evict all but that many at once; use maxUnavailable: 1", p.Spec.MinAvailable.String())
	}
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.String() != "1" {
		t.Errorf("maxUnavailable %v, want 1", p.Spec.MaxUnavailable)
	}
}

// checkDestinationRule wants TLS to the external host verified on every
// supported Istio: system roots (Istio 1.20 checks nothing without
// caCertificates), the host as SNI and as the only accepted SAN.
func checkDestinationRule(t *testing.T, dr *networkingv1alpha3.DestinationRule) {
	t.Helper()
	var tlss []*networkingv1alpha3.ClientTLSSettings
	if tls := dr.GetTrafficPolicy().GetTls(); tls != nil {
		tlss = append(tlss, tls)
	}
	for _, p := range dr.GetTrafficPolicy().GetPortLevelSettings() {
		if p.GetTls() == nil {
			t.Errorf("port %d has no tls settings", p.GetPort().GetNumber())
			continue
		}
		tlss = append(tlss, p.GetTls())
	}
	if len(tlss) == 0 {
		t.Error("no tls settings: traffic to the external host is not encrypted")
	}
	for _, tls := range tlss {
		if tls.GetMode() != networkingv1alpha3.ClientTLSSettings_SIMPLE {
			t.Errorf("tls mode %s, want SIMPLE", tls.GetMode())
		}
		if tls.GetCaCertificates() == "" && tls.GetCredentialName() == "" {
			t.Error("tls has no caCertificates: on Istio 1.20 (VERIFY_CERTIFICATE_AT_CLIENT off) the certificate is not checked; set caCertificates: system")
		}
		if tls.GetInsecureSkipVerify().GetValue() {
			t.Error("insecureSkipVerify is true")
		}
		if tls.GetSni() != dr.GetHost() || !slices.Equal(tls.GetSubjectAltNames(), []string{dr.GetHost()}) {
			t.Errorf("sni %q, subjectAltNames %v: want the host %q for both", tls.GetSni(), tls.GetSubjectAltNames(), dr.GetHost())
		}
	}
}

const referencedServices = "envoyfilter.istio.io/referenced-services"

func checkEnvoyFilter(t *testing.T, o object, ef *networkingv1alpha3.EnvoyFilter) {
	t.Helper()
	if ef.GetPriority() <= 0 {
		t.Error("priority is not set above 0: the patch's place among other EnvoyFilters depends on creation time")
	}
	hasFilter := false
	for i, cp := range ef.GetConfigPatches() {
		if cp.GetApplyTo() != networkingv1alpha3.EnvoyFilter_HTTP_FILTER {
			continue
		}
		where := fmt.Sprintf("configPatches[%d]", i)
		lm := cp.GetMatch().GetListener()
		if got := lm.GetFilterChain().GetFilter().GetName(); got != envoy.FilterHCM {
			t.Errorf("%s matches network filter %q, want %s", where, got, envoy.FilterHCM)
		}
		if got := lm.GetFilterChain().GetFilter().GetSubFilter().GetName(); got != envoy.FilterRouter || cp.GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE {
			t.Errorf("%s is %s %q, want INSERT_BEFORE %s", where, cp.GetPatch().GetOperation(), got, envoy.FilterRouter)
		}
		val, err := protojson.Marshal(cp.GetPatch().GetValue())
		if err != nil {
			t.Fatal(err)
		}
		f := &hcmv3.HttpFilter{}
		if err := envoy.Unmarshal(val, f); err != nil {
			t.Errorf("%s value: %v", where, err)
			continue
		}
		ep := &extprocfilterv3.ExternalProcessor{}
		if f.GetTypedConfig().UnmarshalTo(ep) != nil {
			continue
		}
		hasFilter = true
		for _, p := range envoy.CheckExtProc(where, ep) {
			t.Errorf("ext_proc typed_config breaks the bootstrap validator's rules: %s", p)
		}
		eg := ep.GetGrpcService().GetEnvoyGrpc()
		if a := eg.GetAuthority(); a == "" || strings.Contains(a, "|") {
			t.Errorf("%s envoy_grpc authority %q: Envoy would send the cluster name %q, whose \"|\" strict HTTP/2 peers refuse", where, a, eg.GetClusterName())
		}
		parts := strings.Split(eg.GetClusterName(), "|")
		if len(parts) != 4 || parts[0] != "outbound" {
			t.Errorf("%s cluster %q is not an Istio outbound cluster", where, eg.GetClusterName())
		} else if !slices.Contains(strings.Split(o.Metadata.Annotations[referencedServices], ","), parts[3]) {
			t.Errorf("annotation %s does not name %s: with PILOT_FILTER_GATEWAY_CLUSTER_CONFIG istiod drops the cluster, and ext_proc without its cluster may let requests through", referencedServices, parts[3])
		}
		// The filter is scoped by its filter chain and on for every route
		// there: a renamed virtual host or port cannot bypass it.
		if f.GetDisabled() {
			t.Errorf("%s inserts ext_proc disabled, to be enabled per route or virtual host by name: a rename forwards requests to AWS unsigned, with the user's JWT", where)
		}
		if lm.GetPortNumber() == 0 {
			t.Errorf("%s matches no listener port: ext_proc would run on every listener of the proxy", where)
		}
		if cp.GetMatch().GetContext() == networkingv1alpha3.EnvoyFilter_GATEWAY {
			if lm.GetFilterChain().GetSni() == "" {
				t.Errorf("%s does not scope ext_proc to the MCP host's filter chain (filterChain.sni)", where)
			}
		}
	}
	if !hasFilter {
		t.Error("no HTTP_FILTER patch inserts ext_proc")
	}
}

// checkVirtualService wants the RFC 9728 metadata routed on the MCP host,
// so mcpguard (ext_proc covers the whole filter chain) can answer it.
func checkVirtualService(t *testing.T, vs *networkingv1alpha3.VirtualService) {
	t.Helper()
	if len(vs.GetGateways()) == 0 {
		return
	}
	for _, r := range vs.GetHttp() {
		for _, m := range r.GetMatch() {
			if p := m.GetUri().GetPrefix(); p != "" && strings.HasPrefix(envoy.MetadataPath, p) {
				if r.GetDirectResponse() == nil && len(r.GetRoute()) == 0 {
					t.Errorf("route %s matches %s but answers nothing", r.GetName(), envoy.MetadataPath)
				}
				return
			}
		}
	}
	t.Errorf("no route matches %s: the gateway answers 404 and MCP clients cannot discover where to log in", envoy.MetadataPath)
}

// checkAuthorizationPolicy refuses a DENY for requests without a JWT: the
// gateway would answer 403 before mcpguard can answer 401 with the
// WWW-Authenticate header that starts an MCP client's login.
func checkAuthorizationPolicy(t *testing.T, ap *securityv1beta1.AuthorizationPolicy) {
	t.Helper()
	if ap.GetAction() != securityv1beta1.AuthorizationPolicy_DENY {
		return
	}
	for _, r := range ap.GetRules() {
		for _, f := range r.GetFrom() {
			if len(f.GetSource().GetNotRequestPrincipals()) > 0 {
				t.Error("a DENY rule on notRequestPrincipals answers token-less requests with 403, so mcpguard never sends the 401 and WWW-Authenticate that start an MCP client's login")
			}
		}
	}
}

// The image runs as a numeric non-root user (runAsNonRoot can only verify a
// number), carries OCI labels, builds for every platform from the build
// machine's own, and takes its base images from build arguments so a
// release build pins them by digest.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, strings.Join(f[1:], " "))
		case "USER":
			users = append(users, f[1])
		}
	}
	if len(users) == 0 || users[len(users)-1] != "65532:65532" {
		t.Errorf("final USER %v, want the numeric 65532:65532", users)
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "--platform=$BUILDPLATFORM ") {
		t.Errorf("first FROM %q: want --platform=$BUILDPLATFORM, so the builder cross-compiles instead of running emulated", froms)
	}
	for _, f := range froms {
		var img string
		for _, w := range strings.Fields(f) {
			if !strings.HasPrefix(w, "--") {
				img = w
				break
			}
		}
		if !strings.HasPrefix(img, "${") && !strings.Contains(img, "@sha256:") {
			t.Errorf("FROM %q: a base image is neither a build argument nor pinned by digest", f)
		}
	}
	text := string(data)
	for _, want := range []string{"ARG TARGETARCH", `GOARCH="$TARGETARCH"`,
		"org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}
