package profileschema

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// CompileText compiles a schema written as JSON or as YAML (a superset of
// JSON), as it may be written inline in latchkey.yaml. Empty text returns
// nil: every object is accepted.
func CompileText(text []byte) (*Schema, error) {
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, nil
	}
	var doc any
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("profileschema: schema is neither JSON nor YAML: %w", err)
	}
	v, err := jsonValue(doc, 0)
	if err != nil {
		return nil, fmt.Errorf("profileschema: %w", err)
	}
	return CompileValue(v)
}

// CompileFile compiles the JSON or YAML schema in the file at path.
func CompileFile(path string) (*Schema, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profileschema: read schema: %w", err)
	}
	s, err := CompileText(text)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// jsonValue turns what yaml.v3 decodes into the values of JSON: maps with
// string keys, []any, string, float64/int, bool, nil.
func jsonValue(v any, depth int) (any, error) {
	if depth > 100 {
		return nil, fmt.Errorf("schema nested too deeply")
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			j, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("schema key %v is not a string", k)
			}
			j, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = j
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			j, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case time.Time:
		// An unquoted date in YAML (e.g. in an enum or const).
		if v.Equal(v.Truncate(24*time.Hour)) && v.Location() == time.UTC {
			return v.Format(time.DateOnly), nil
		}
		return v.Format(time.RFC3339Nano), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("schema number %v is not JSON", v)
		}
		return v, nil
	case nil, string, bool, int, int64, uint64:
		return v, nil
	default:
		return nil, fmt.Errorf("schema value %v (%T) is not JSON", v, v)
	}
}
