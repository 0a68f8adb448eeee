package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"
)

// MaxBootstrapBytes bounds a bootstrap file read for validation. Real
// bootstraps are a few kilobytes; the bound keeps a hostile file from
// exhausting memory.
const MaxBootstrapBytes = 4 << 20

// MarshalYAML serialises b as Envoy reads it: protobuf's canonical JSON
// mapping with the proto field names, typed_config as "@type" first, keys
// in field declaration order (map keys sorted), re-emitted as block YAML.
// The same bootstrap always produces the same bytes.
func MarshalYAML(b *bootstrapv3.Bootstrap) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("marshal bootstrap: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("convert bootstrap to yaml: %w", err)
	}
	plain(&doc)
	explicitFailClosed(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode bootstrap yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode bootstrap yaml: %w", err)
	}
	return buf.Bytes(), nil
}

// plain drops the JSON styles (flow collections, double quotes) so the
// encoder writes block YAML; it still quotes any string that would
// otherwise read back as another type.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// explicitFailClosed writes failure_mode_allow: false into every ext_proc
// configuration. protojson omits a false bool, but it is the setting a
// reviewer looks for first.
func explicitFailClosed(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		isExtProc, has := false, false
		at := -1
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "@type":
				isExtProc = n.Content[i+1].Value == "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
			case "failure_mode_allow":
				has = true
			case "grpc_service", "http_service":
				at = i + 2
			}
		}
		if isExtProc && !has && at > 0 {
			kv := []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "failure_mode_allow"},
				{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"},
			}
			n.Content = slices.Insert(n.Content, at, kv...)
		}
	}
	for _, c := range n.Content {
		explicitFailClosed(c)
	}
}

// ParseBootstrap reads an Envoy bootstrap in YAML (or JSON) into
// go-control-plane's Bootstrap as Envoy would: unknown fields are errors,
// every typed_config must name a registered type, and protoc-gen-validate's
// rules hold for the bootstrap and for every message inside a typed_config.
func ParseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	b := &bootstrapv3.Bootstrap{}
	if err := Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("parse bootstrap: %w", err)
	}
	return b, nil
}

// Unmarshal reads one YAML (or JSON) document into m with ParseBootstrap's
// rules. It serves pieces of Envoy configuration found elsewhere, such as
// the filters an Istio EnvoyFilter inserts.
func Unmarshal(data []byte, m proto.Message) error {
	if len(data) > MaxBootstrapBytes {
		return fmt.Errorf("%d bytes is more than the %d allowed", len(data), MaxBootstrapBytes)
	}
	js, err := yamlToJSON(data)
	if err != nil {
		return fmt.Errorf("read yaml: %w", err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		return err
	}
	return validateTree(m)
}

// yamlToJSON converts one YAML document to JSON, the form protojson reads.
func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document")
	}
	if v == nil {
		return nil, errors.New("empty document")
	}
	j, err := jsonValue(v, "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(j)
}

// jsonValue turns yaml.v3's decoded values into ones encoding/json accepts.
func jsonValue(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonValue(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			c, err := jsonValue(e, path+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := jsonValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	case float64:
		// JSON has no Inf or NaN; protojson takes them as strings.
		if t != t || t > 1e308 || t < -1e308 {
			return fmt.Sprint(t), nil
		}
		return t, nil
	case string, bool, int, int64, uint64, nil:
		return t, nil
	default:
		return nil, fmt.Errorf("%s: unsupported YAML value of type %T", strings.TrimPrefix(path, "."), v)
	}
}

// validateTree runs protoc-gen-validate's ValidateAll on m and on every
// message packed in a google.protobuf.Any below it: the generated
// validators stop at Any, Envoy does not.
func validateTree(m proto.Message) error {
	var errs []error
	validateMessage(m, protoName(m), &errs)
	return errors.Join(errs...)
}

type allValidator interface{ ValidateAll() error }

func validateMessage(m proto.Message, where string, errs *[]error) {
	if v, ok := m.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	findAnys(m.ProtoReflect(), where, errs)
}

// findAnys visits every field of m and validates the content of each Any.
func findAnys(m protoreflect.Message, where string, errs *[]error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: resolve %s: %w", where, a.GetTypeUrl(), err))
			return
		}
		validateMessage(inner, where+"("+protoName(inner)+")", errs)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		name := where + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				findAnys(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), errs)
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				findAnys(mv.Message(), fmt.Sprintf("%s[%s]", name, k.String()), errs)
				return true
			})
		default:
			findAnys(v.Message(), name, errs)
		}
		return true
	})
}

func protoName(m proto.Message) string {
	return string(m.ProtoReflect().Descriptor().Name())
}
