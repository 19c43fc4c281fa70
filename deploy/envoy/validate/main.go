// Command validate checks Envoy bootstrap files offline: it parses each YAML file into the
// Bootstrap proto of Envoy's own API (go-control-plane), resolves every typed_config, and runs the
// API's validation rules (protoc-gen-validate). It does not start Envoy: a cluster name that no route
// uses, or a descriptor file that does not exist, are only found by `envoy --mode validate`.
//
//	go run . ../envoy.yaml
package main

import (
	"encoding/json"
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate ENVOY_YAML...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := validate(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid Envoy bootstrap\n", path)
	}
	if failed {
		os.Exit(1)
	}
}

func validate(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	asJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	if !json.Valid(asJSON) {
		return fmt.Errorf("not a JSON-compatible document")
	}
	var bootstrap bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(asJSON, &bootstrap); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return validateTree(&bootstrap, "bootstrap")
}

// validateTree runs a message's validation rules, then those of every message inside it, opening
// each google.protobuf.Any (typed_config) into its concrete type, which the rules alone do not do.
func validateTree(message proto.Message, at string) error {
	if any, ok := message.(*anypb.Any); ok {
		inner, err := any.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		return validateTree(inner, at+"("+string(inner.ProtoReflect().Descriptor().FullName())+")")
	}
	if v, ok := message.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	var failure error
	message.ProtoReflect().Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		name := at + "." + string(field.Name())
		switch {
		case field.IsList() && field.Message() != nil:
			list := value.List()
			for i := 0; i < list.Len() && failure == nil; i++ {
				failure = validateTree(list.Get(i).Message().Interface(), fmt.Sprintf("%s[%d]", name, i))
			}
		case field.IsMap() && field.MapValue().Message() != nil:
			value.Map().Range(func(key protoreflect.MapKey, item protoreflect.Value) bool {
				failure = validateTree(item.Message().Interface(), name+"["+key.String()+"]")
				return failure == nil
			})
		case !field.IsList() && !field.IsMap() && field.Message() != nil:
			failure = validateTree(value.Message().Interface(), name)
		}
		return failure == nil
	})
	return failure
}
