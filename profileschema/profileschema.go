// Package profileschema validates the free `profile` attributes of a user
// against a JSON Schema from config (draft 2020-12 unless the schema says
// otherwise, formats asserted) and reports problems as a DRF field-error
// map: {"dob": ["Enter a valid date."], "address.city": ["This field is
// required."]}.
package profileschema

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Root is the key of problems that belong to no one attribute but to the
// profile as a whole (e.g. maxProperties); a caller puts them where DRF
// would, under "profile" or "non_field_errors".
const Root = ""

// schemaURL names the compiled schema in errors.
const schemaURL = "latchkey:profile-schema.json"

// Schema validates profiles. A nil *Schema accepts every profile. It is
// safe for concurrent use.
type Schema struct {
	s *jsonschema.Schema
}

// Compile compiles a JSON Schema given as JSON. An empty (or all-space)
// schema returns nil: every object is accepted. References to other
// documents are refused: the schema must be self-contained.
func Compile(schema []byte) (*Schema, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("profileschema: schema is not JSON: %w", err)
	}
	return CompileValue(doc)
}

// CompileValue compiles a schema already decoded, e.g. from YAML config
// (maps with string keys, slices, strings, numbers, booleans). nil returns
// nil: every object is accepted.
func CompileValue(doc any) (*Schema, error) {
	if doc == nil {
		return nil, nil
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("profileschema: a schema must be a JSON object (or true/false), got %T", doc)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("profileschema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("profileschema: invalid schema: %w", err)
	}
	return &Schema{s: s}, nil
}

// noLoader refuses to fetch anything: no files, no network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("profileschema: the schema refers to %q; only references inside the schema itself are allowed", url)
}

// Validate checks profile and returns the problems keyed by attribute
// (nested attributes as "address.city", list items as "phones.0", problems
// of the whole profile under Root, ""), each with DRF-style messages; nil
// means the profile is valid. Values must be
// what encoding/json decodes into any (float64 or json.Number numbers).
func (s *Schema) Validate(profile map[string]any) map[string][]string {
	if s == nil {
		return nil
	}
	if profile == nil {
		profile = map[string]any{}
	}
	err := s.s.Validate(profile)
	if err == nil {
		return nil
	}
	out := errorMap{}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		out.add(nil, "Invalid data.")
		return out
	}
	out.collect(ve)
	if len(out) == 0 {
		out.add(nil, "Invalid data.")
	}
	return out
}

type errorMap map[string][]string

func key(loc []string, more ...string) string {
	parts := append(slices.Clone(loc), more...)
	if len(parts) == 0 {
		return Root
	}
	return strings.Join(parts, ".")
}

func (m errorMap) add(loc []string, msg string, more ...string) {
	k := key(loc, more...)
	if !slices.Contains(m[k], msg) {
		m[k] = append(m[k], msg)
	}
}

var english = message.NewPrinter(language.English)

// collect turns the error tree into messages at the failing attributes.
func (m errorMap) collect(e *jsonschema.ValidationError) {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.AllOf, *kind.Reference:
		for _, c := range e.Causes {
			m.collect(c)
		}
		return
	case *kind.AnyOf, *kind.OneOf:
		// A branch whose type matched explains best what is wrong
		// (e.g. anyOf [string with pattern, null] given a bad string).
		var typed []*jsonschema.ValidationError
		for _, c := range e.Causes {
			if _, isType := c.ErrorKind.(*kind.Type); !isType {
				typed = append(typed, c)
			}
		}
		if len(typed) == 1 {
			m.collect(typed[0])
			return
		}
		if oo, ok := k.(*kind.OneOf); ok && len(oo.Subschemas) > 1 {
			m.add(loc, "This value matches more than one of the allowed forms.")
			return
		}
		m.add(loc, "This value does not match any of the allowed forms.")
	case *kind.Required:
		for _, p := range k.Missing {
			m.add(loc, "This field is required.", p)
		}
	case *kind.DependentRequired:
		for _, p := range k.Missing {
			m.add(loc, "This field is required.", p)
		}
	case *kind.Dependency:
		for _, p := range k.Missing {
			m.add(loc, "This field is required.", p)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			m.add(loc, "This field is not allowed.", p)
		}
	case *kind.FalseSchema:
		m.add(loc, "This field is not allowed.")
	case *kind.PropertyNames:
		m.add(loc, "This field name is not allowed.", k.Property)
	case *kind.Type:
		m.add(loc, typeMessage(k.Got, k.Want))
	case *kind.Enum:
		m.add(loc, fmt.Sprintf("%s is not a valid choice.", choice(k.Got)))
	case *kind.Const:
		m.add(loc, fmt.Sprintf("%s is not a valid choice.", choice(k.Got)))
	case *kind.Format:
		m.add(loc, formatMessage(k.Want))
	case *kind.MinLength:
		m.add(loc, fmt.Sprintf("Ensure this field has at least %d characters.", k.Want))
	case *kind.MaxLength:
		m.add(loc, fmt.Sprintf("Ensure this field has no more than %d characters.", k.Want))
	case *kind.Pattern:
		m.add(loc, "This value does not match the required pattern.")
	case *kind.Minimum:
		m.add(loc, fmt.Sprintf("Ensure this value is greater than or equal to %s.", number(k.Want)))
	case *kind.Maximum:
		m.add(loc, fmt.Sprintf("Ensure this value is less than or equal to %s.", number(k.Want)))
	case *kind.ExclusiveMinimum:
		m.add(loc, fmt.Sprintf("Ensure this value is greater than %s.", number(k.Want)))
	case *kind.ExclusiveMaximum:
		m.add(loc, fmt.Sprintf("Ensure this value is less than %s.", number(k.Want)))
	case *kind.MultipleOf:
		m.add(loc, fmt.Sprintf("Ensure this value is a multiple of %s.", number(k.Want)))
	case *kind.MinItems:
		m.add(loc, fmt.Sprintf("Ensure this field has at least %d elements.", k.Want))
	case *kind.MaxItems:
		m.add(loc, fmt.Sprintf("Ensure this field has no more than %d elements.", k.Want))
	case *kind.UniqueItems:
		m.add(loc, "Ensure the items of this list are unique.")
	case *kind.MinProperties:
		m.add(loc, fmt.Sprintf("Ensure this field has at least %d attributes.", k.Want))
	case *kind.MaxProperties:
		m.add(loc, fmt.Sprintf("Ensure this field has no more than %d attributes.", k.Want))
	case *kind.Not:
		m.add(loc, "This value is not allowed.")
	default:
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				m.collect(c)
			}
			return
		}
		msg := e.ErrorKind.LocalizedString(english)
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
		}
		m.add(loc, msg)
	}
}

// pythonType is the Python type name DRF puts in its messages.
var pythonType = map[string]string{
	"string": "str", "number": "float", "integer": "int", "boolean": "bool",
	"array": "list", "object": "dict", "null": "NoneType",
}

func typeMessage(got string, want []string) string {
	if got == "null" {
		return "This field may not be null."
	}
	if len(want) == 1 || len(want) == 2 && slices.Contains(want, "null") {
		w := want[0]
		if w == "null" {
			w = want[1]
		}
		switch w {
		case "string":
			return "Not a valid string."
		case "integer":
			return "A valid integer is required."
		case "number":
			return "A valid number is required."
		case "boolean":
			return "Must be a valid boolean."
		case "object":
			return fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pythonType[got])
		case "array":
			return fmt.Sprintf("Expected a list of items but got type %q.", pythonType[got])
		case "null":
			return "This field must be null."
		}
	}
	return fmt.Sprintf("Invalid type: expected %s, got %s.", strings.Join(want, " or "), got)
}

func formatMessage(format string) string {
	switch format {
	case "date":
		return "Enter a valid date."
	case "date-time":
		return "Enter a valid date/time."
	case "time":
		return "Enter a valid time."
	case "duration":
		return "Enter a valid duration."
	case "email", "idn-email":
		return "Enter a valid email address."
	case "uri", "iri", "uri-reference", "iri-reference":
		return "Enter a valid URL."
	case "uuid":
		return "Must be a valid UUID."
	case "ipv4":
		return "Enter a valid IPv4 address."
	case "ipv6":
		return "Enter a valid IPv6 address."
	case "hostname", "idn-hostname":
		return "Enter a valid hostname."
	case "regex":
		return "Enter a valid regular expression."
	}
	return fmt.Sprintf("Enter a valid %s.", format)
}

// choice writes a value as DRF's ChoiceField does: "\"x\" is not ...".
func choice(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case nil:
		return `"None"`
	default:
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
}

func number(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
