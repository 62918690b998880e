package config

import (
	"encoding"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file describes Go types the way yaml.v3 sees them, so that the strict
// key check (strict.go) and the environment overrides (env.go) agree with the
// decoder about which keys exist.

// yamlField is one key of a struct as yaml.v3 decodes it.
type yamlField struct {
	key   string
	index []int // field indexes from the outer struct, through ,inline structs
	typ   reflect.Type
}

// yamlStruct lists the keys of a struct type.
type yamlStruct struct {
	fields []yamlField
	byKey  map[string]yamlField
	// open is true when an ,inline map or an inlined yaml.Unmarshaler takes
	// keys that are not fields, so no key is unknown.
	open bool
}

// structFields mirrors yaml.v3's getStructInfo: unexported fields and `-` are
// skipped, an empty name is the lower-cased field name, and ,inline structs
// (or pointers to structs) contribute their keys to the outer struct.
func structFields(t reflect.Type) yamlStruct {
	s := yamlStruct{byKey: map[string]yamlField{}}
	collectFields(t, nil, &s)
	return s
}

func collectFields(t reflect.Type, prefix []int, s *yamlStruct) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" && !strings.Contains(string(f.Tag), ":") {
			tag = string(f.Tag)
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(append([]int(nil), prefix...), i)
		if hasOption(opts, "inline") {
			ft := derefType(f.Type)
			switch {
			case ft.Kind() == reflect.Map:
				s.open = true
			case ft.Kind() == reflect.Struct && implementsUnmarshaler(ft):
				s.open = true
			case ft.Kind() == reflect.Struct:
				collectFields(ft, index, s)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := s.byKey[name]; dup {
			continue // yaml.v3 refuses such a type when decoding
		}
		yf := yamlField{key: name, index: index, typ: f.Type}
		s.fields = append(s.fields, yf)
		s.byKey[name] = yf
	}
}

func hasOption(opts, want string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == want {
			return true
		}
	}
	return false
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldByIndex is reflect.Value.FieldByIndex that allocates nil pointers to
// inlined structs on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for _, i := range index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v
}

func isNode(t reflect.Type) bool { return derefType(t) == reflect.TypeFor[yaml.Node]() }

func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// implementsUnmarshaler reports whether yaml.v3 hands the whole node to the
// type's own UnmarshalYAML, so its keys are its own business.
func implementsUnmarshaler(t reflect.Type) bool {
	obsolete := reflect.TypeFor[interface {
		UnmarshalYAML(unmarshal func(any) error) error
	}]()
	for _, it := range []reflect.Type{reflect.TypeFor[yaml.Unmarshaler](), obsolete} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// isTextUnmarshaler reports whether *t decodes itself from text, which makes
// a struct type such as netip.Prefix a scalar rather than a section.
func isTextUnmarshaler(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// isSection reports whether t is a struct whose keys are set one by one.
func isSection(t reflect.Type) bool {
	t = derefType(t)
	return t.Kind() == reflect.Struct && !isNode(t) && !isTextUnmarshaler(t) && !implementsUnmarshaler(t)
}
