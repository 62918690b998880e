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

// keyProblem is an unknown key found by checkKnownKeys.
type keyProblem struct {
	line int
	key  string // full key path, as in YAML
}

// maxNodeDepth bounds the walk, which follows aliases.
const maxNodeDepth = 100

// checkKnownKeys walks n as yaml.v3 would decode it into t and returns every
// mapping key that names no field, with its line. It is what
// Decoder.KnownFields(true) checks, but it reports all keys, with their full
// path, and also works on a yaml.Node (Node.Decode has no strict mode).
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
	if isNode(t) || implementsUnmarshaler(t) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
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
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkKnownKeys(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value), depth+1, out)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			walkKnownKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1, out)
		}
	}
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
