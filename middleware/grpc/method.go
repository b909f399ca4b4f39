package grpccache

import (
	"cmp"
	"crypto/sha256"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// method is the resolved caching state of one full method name, computed on its first call.
type method struct {
	name   string
	policy *Policy // nil: the method passes straight through
	// prefix starts every key of the method: "grpc:" + name + ":".
	prefix string
	// salt is hashed into every key: the schema string and the fingerprint of the request and
	// response message descriptors.
	salt [sha256.Size]byte
	// output is the response message's full name when the registry knows the method.
	output protoreflect.FullName
}

// lookupMethod finds a method descriptor in the global registry by its full gRPC method name
// ("/pkg.Service/Method"). It returns nil when the registry does not know it.
func lookupMethod(fullMethod string) protoreflect.MethodDescriptor {
	svc, name, ok := splitMethod(fullMethod)
	if !ok {
		return nil
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil
	}
	return sd.Methods().ByName(protoreflect.Name(name))
}

// splitMethod splits "/pkg.Service/Method" into its service and method names.
func splitMethod(fullMethod string) (svc, name string, ok bool) {
	rest, found := strings.CutPrefix(fullMethod, "/")
	if !found {
		return "", "", false
	}
	svc, name, ok = strings.Cut(rest, "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return svc, name, true
}

// noSideEffects reports whether md declares idempotency_level = NO_SIDE_EFFECTS.
func noSideEffects(md protoreflect.MethodDescriptor) bool {
	if md == nil {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	return ok && opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
}

// saltFor hashes the schema string with a fingerprint of md's request and response messages and
// every message and enum they reach, so that a change to any of them changes every key.
func saltFor(schema, fullMethod string, md protoreflect.MethodDescriptor) [sha256.Size]byte {
	h := sha256.New()
	var b []byte
	b = appendString(b, "strata-grpccache-v1")
	b = appendString(b, schema)
	b = appendString(b, fullMethod)
	h.Write(b)
	if md == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		type desc struct {
			name protoreflect.FullName
			body []byte
		}
		var descs []desc
		seen := map[protoreflect.FullName]bool{}
		mo := proto.MarshalOptions{Deterministic: true}
		var visitEnum func(protoreflect.EnumDescriptor)
		var visitMsg func(protoreflect.MessageDescriptor)
		visitEnum = func(e protoreflect.EnumDescriptor) {
			if seen[e.FullName()] {
				return
			}
			seen[e.FullName()] = true
			body, _ := mo.Marshal(protodesc.ToEnumDescriptorProto(e))
			descs = append(descs, desc{e.FullName(), body})
		}
		visitMsg = func(m protoreflect.MessageDescriptor) {
			if seen[m.FullName()] {
				return
			}
			seen[m.FullName()] = true
			body, _ := mo.Marshal(protodesc.ToDescriptorProto(m))
			descs = append(descs, desc{m.FullName(), body})
			fields := m.Fields()
			for i := range fields.Len() {
				f := fields.Get(i)
				if f.Message() != nil {
					visitMsg(f.Message())
				}
				if f.Enum() != nil {
					visitEnum(f.Enum())
				}
			}
		}
		visitMsg(md.Input())
		visitMsg(md.Output())
		slices.SortFunc(descs, func(a, b desc) int { return cmp.Compare(a.name, b.name) })
		for _, d := range descs {
			b = appendString(b[:0], string(d.name))
			b = appendBytes(b, d.body)
			h.Write(b)
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
