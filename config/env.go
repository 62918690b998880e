package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// applyEnv sets the fields of *target (a pointer to a struct) named by the
// LATCHKEY_* variables in environ. The names come from the yaml tags, found by
// reflection, so every new field can be overridden without further code:
// LATCHKEY_ + the key path in upper case with "__" between levels
// (LATCHKEY_TOKENS__ACCESS_TTL=10m). Every bad variable is reported.
func applyEnv(target any, environ []string) error {
	root := reflect.ValueOf(target)
	if root.Kind() != reflect.Pointer || root.IsNil() || root.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("apply environment: need a pointer to a struct, got %T", target)
	}
	var errs []error
	for _, kv := range environ {
		name, value, ok := cutEnv(kv)
		if !ok || !strings.HasPrefix(name, EnvPrefix) || isReservedEnv(name) {
			continue
		}
		if strings.HasPrefix(name, EnvBootstrapPrefix) {
			errs = append(errs, fmt.Errorf("%s: not a bootstrap variable (%s)", name, strings.Join(BootstrapEnv, ", ")))
			continue
		}
		if canonical, ok := envAliases[name]; ok {
			if other, set := lookupEnv(environ, canonical); set && other != value {
				errs = append(errs, fmt.Errorf("%s and %s are both set, to different values; set one", name, canonical))
				continue
			}
			name = canonical
		}
		if err := setFromEnv(root.Elem(), name, value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isReservedEnv reports whether a LATCHKEY_ variable is not a config key
// and is known: the config file's name, a bootstrap variable, or one of the
// test suite's.
func isReservedEnv(name string) bool {
	return name == EnvConfig || slices.Contains(BootstrapEnv, name) || strings.HasPrefix(name, EnvTestPrefix)
}

// envKey is the part of a variable name that stands for one YAML key.
func envKey(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

func setFromEnv(v reflect.Value, name, value string) error {
	rest := strings.TrimPrefix(name, EnvPrefix)
	if rest == "" {
		return fmt.Errorf("%s: names no configuration key", name)
	}
	segments := strings.Split(rest, "__")
	path := ""
	for i, seg := range segments {
		s := structFields(v.Type())
		f, ok := findEnvField(s, seg)
		if !ok {
			return fmt.Errorf("%s: no configuration key %q (%s)", name, joinKey(path, strings.ToLower(seg)), knownKeys(path, s))
		}
		path = joinKey(path, f.key)
		fv := fieldByIndex(v, f.index)
		last := i == len(segments)-1
		if isSection(f.typ) {
			if last {
				return fmt.Errorf("%s: %s is a section; set one of its keys, e.g. %s__%s",
					name, path, name, envKey(structFields(derefType(f.typ)).firstKey()))
			}
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					fv.Set(reflect.New(fv.Type().Elem()))
				}
				fv = fv.Elem()
			}
			v = fv
			continue
		}
		if reason := notSettable(f.typ); reason != "" {
			return fmt.Errorf("%s: %s cannot be set from the environment (%s); set it in the config file", name, path, reason)
		}
		if !last {
			return fmt.Errorf("%s: no configuration key %q (%s is not a section)", name, joinKey(path, strings.ToLower(strings.Join(segments[i+1:], "."))), path)
		}
		if err := setScalar(fv, value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func findEnvField(s yamlStruct, seg string) (yamlField, bool) {
	for _, f := range s.fields {
		if envKey(f.key) == seg {
			return f, true
		}
	}
	return yamlField{}, false
}

func (s yamlStruct) firstKey() string {
	if len(s.fields) == 0 {
		return "KEY"
	}
	return s.fields[0].key
}

// knownKeys describes the keys available at path, for error messages.
func knownKeys(path string, s yamlStruct) string {
	keys := make([]string, 0, len(s.fields))
	for _, f := range s.fields {
		keys = append(keys, f.key)
	}
	where := "top-level keys"
	if path != "" {
		where = "keys of " + path
	}
	return where + ": " + strings.Join(keys, ", ")
}

// notSettable says why a field of type t cannot come from one variable, or
// returns "" when it can.
func notSettable(t reflect.Type) string {
	t = derefType(t)
	switch {
	case isNode(t):
		return "it is a free-form YAML block"
	case isDuration(t) || isTextUnmarshaler(t):
		return ""
	case implementsUnmarshaler(t):
		return "it has a YAML-only format"
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return ""
	case reflect.Slice:
		elem := derefType(t.Elem())
		if isSection(elem) || isNode(elem) {
			return "it is a list of sections"
		}
		if notSettable(elem) != "" || elem.Kind() == reflect.Slice {
			return fmt.Sprintf("a list of %s is not supported", elem)
		}
		return ""
	case reflect.Map:
		return "it is a map"
	}
	return fmt.Sprintf("type %s is not supported", t)
}

// setScalar parses value into v, whose type notSettable accepts. A list is
// comma-separated; blank items are dropped, so an empty value is an empty list.
func setScalar(v reflect.Value, value string) error {
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		if err := setScalar(p.Elem(), value); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	t := v.Type()
	if isTextUnmarshaler(t) && !isDuration(t) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(value)); err != nil {
			return fmt.Errorf("cannot parse %q as %s: %w", value, t, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Bool:
		switch strings.ToLower(value) {
		case "true", "1":
			v.SetBool(true)
		case "false", "0":
			v.SetBool(false)
		default:
			return fmt.Errorf("cannot parse %q as a bool (true, false, 1 or 0)", value)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if isDuration(t) {
			d, err := time.ParseDuration(value)
			if err != nil {
				return fmt.Errorf("cannot parse %q as a duration (e.g. 30s, 10m, 1h30m)", value)
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(value, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("cannot parse %q as an integer (%s)", value, t)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("cannot parse %q as a non-negative integer (%s)", value, t)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(value, t.Bits())
		if err != nil {
			return fmt.Errorf("cannot parse %q as a number", value)
		}
		v.SetFloat(n)
	case reflect.Slice:
		var items []string
		for item := range strings.SplitSeq(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		list := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := setScalar(list.Index(i), item); err != nil {
				return fmt.Errorf("item %d of the comma-separated list: %w", i+1, err)
			}
		}
		v.Set(list)
	default:
		return fmt.Errorf("type %s cannot be set from the environment", t)
	}
	return nil
}
