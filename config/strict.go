package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyProblem is an unknown key, or a value of the wrong type, found by
// checkKnownKeys.
type keyProblem struct {
	line int
	key  string // full key path, as in YAML
	// msg says what is wrong with the value; empty for an unknown key.
	msg string
}

// maxNodeDepth bounds the walk, which follows aliases.
const maxNodeDepth = 100

// checkKnownKeys walks n as yaml.v3 would decode it into t and returns every
// mapping key that names no field, with its line. It is what
// Decoder.KnownFields(true) checks, but it reports all keys, with their full
// path, and also works on a yaml.Node (Node.Decode has no strict mode).
// It also decodes every leaf value on its own, so a value of the wrong type
// is reported by its key ("tokens.access_ttl: "5 minutes" is not a
// duration"), not by yaml.v3's "cannot unmarshal !!str into time.Duration".
func checkKnownKeys(n *yaml.Node, t reflect.Type) []keyProblem {
	var out []keyProblem
	walkKnownKeys(n, t, "", 0, &out)
	return out
}

func walkKnownKeys(n *yaml.Node, t reflect.Type, path string, depth int, out *[]keyProblem) {
	if n == nil || depth > maxNodeDepth {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			walkKnownKeys(n.Content[0], t, path, depth+1, out)
		}
		return
	case yaml.AliasNode:
		walkKnownKeys(n.Alias, t, path, depth+1, out)
		return
	}
	t = derefType(t)
	if isNode(t) || isNull(n) {
		return
	}
	if implementsUnmarshaler(t) || isTextUnmarshaler(t) || isDuration(t) {
		checkLeaf(n, t, path, out)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*out = append(*out, keyProblem{line: n.Line, key: path, msg: "must be a section of keys (a mapping), got " + describeNode(n)})
			return
		}
		s := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if isMergeKey(key) {
				walkMerge(val, t, path, depth+1, out)
				continue
			}
			if key.Kind != yaml.ScalarNode {
				continue
			}
			f, ok := s.byKey[key.Value]
			if !ok {
				if !s.open {
					*out = append(*out, keyProblem{line: key.Line, key: joinKey(path, key.Value)})
				}
				continue
			}
			walkKnownKeys(val, f.typ, joinKey(path, key.Value), depth+1, out)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*out = append(*out, keyProblem{line: n.Line, key: path, msg: "must be a mapping, got " + describeNode(n)})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkKnownKeys(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value), depth+1, out)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			*out = append(*out, keyProblem{line: n.Line, key: path, msg: "must be a list ([a, b] or one \"- item\" per line), got " + describeNode(n)})
			return
		}
		for i, item := range n.Content {
			walkKnownKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1, out)
		}
	case reflect.Interface:
	default:
		checkLeaf(n, t, path, out)
	}
}

// checkLeaf decodes n alone into a new value of type t and reports a
// failure by key, in words.
func checkLeaf(n *yaml.Node, t reflect.Type, path string, out *[]keyProblem) {
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		msg := describeNode(n) + " is not " + describeType(t)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// The type's own UnmarshalYAML or UnmarshalText said why.
			msg = strings.TrimPrefix(err.Error(), "yaml: ")
		}
		*out = append(*out, keyProblem{line: n.Line, key: path, msg: msg})
	}
}

// isNull reports whether n is an explicit null (`key:`, `~`, `null`), which
// yaml.v3 decodes as the zero value.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describeNode shows a value in an error: a scalar quoted, else its kind.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 64 {
			v = v[:61] + "..."
		}
		return strconv.Quote(v)
	}
	return "a value"
}

// describeType names what a scalar of type t must look like.
func describeType(t reflect.Type) string {
	if isDuration(t) {
		return "a duration (e.g. 30s, 10m, 1h30m)"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// walkMerge checks the value of a `<<` merge key: a mapping, or a sequence of
// mappings, whose keys land in the same struct.
func walkMerge(n *yaml.Node, t reflect.Type, path string, depth int, out *[]keyProblem) {
	if n.Kind == yaml.SequenceNode {
		for _, item := range n.Content {
			walkKnownKeys(item, t, path, depth+1, out)
		}
		return
	}
	walkKnownKeys(n, t, path, depth+1, out)
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.Tag == "!!merge" || n.Tag == "tag:yaml.org,2002:merge")
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// where formats a position: "file:line", or "line N" without a file.
func where(file string, line int) string {
	if file == "" {
		return "line " + strconv.Itoa(line)
	}
	return file + ":" + strconv.Itoa(line)
}

func unknownKeysError(file string, problems []keyProblem) error {
	errs := make([]error, 0, len(problems))
	for _, p := range problems {
		if p.msg != "" {
			errs = append(errs, fmt.Errorf("%s: %s: %s", where(file, p.line), p.key, p.msg))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: unknown key %q", where(file, p.line), p.key))
	}
	return errors.Join(errs...)
}

// yamlError rewrites an error of yaml.v3 ("yaml: line 3: ...", or a
// *yaml.TypeError listing "line 3: ..." entries) as "file:3: ..." errors.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, msg := range te.Errors {
			errs = append(errs, positioned(file, msg))
		}
		return errors.Join(errs...)
	}
	return positioned(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func positioned(file, msg string) error {
	linePrefix := regexp.MustCompile(`^line (\d+): `)
	if m := linePrefix.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return fmt.Errorf("%s: %s", where(file, line), msg[len(m[0]):])
	}
	if file == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", file, msg)
}
