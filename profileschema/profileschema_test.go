package profileschema_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/profileschema"
)

// tutorialSchema is the UserProfile of the usual Django REST tutorial
// (title, dob, address, country, city, zip), with the address as a nested
// object to show nested keys.
const tutorialSchema = `{
  "type": "object",
  "properties": {
    "title":   {"type": "string", "enum": ["Mr", "Mrs", "Ms", "Dr"]},
    "dob":     {"type": "string", "format": "date"},
    "address": {
      "type": "object",
      "properties": {
        "street":  {"type": "string", "maxLength": 255},
        "city":    {"type": "string", "maxLength": 50},
        "country": {"type": "string", "maxLength": 50},
        "zip":     {"type": "string", "pattern": "^[0-9]{5}$"}
      },
      "required": ["city", "country"],
      "additionalProperties": false
    },
    "country": {"type": "string", "maxLength": 50},
    "city":    {"type": "string", "maxLength": 50},
    "zip":     {"anyOf": [{"type": "string", "pattern": "^[0-9]{5}$"}, {"type": "null"}]},
    "age":     {"type": "integer", "minimum": 0, "maximum": 150},
    "phones":  {"type": "array", "items": {"type": "string", "minLength": 3}, "maxItems": 3},
    "website": {"type": "string", "format": "uri"},
    "newsletter": {"type": "boolean"}
  },
  "required": ["dob"]
}`

func compile(t *testing.T, schema string) *profileschema.Schema {
	t.Helper()
	s, err := profileschema.Compile([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// decode gives the values encoding/json gives a handler.
func decode(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTutorialProfile(t *testing.T) {
	s := compile(t, tutorialSchema)
	tests := []struct {
		name    string
		profile string
		want    map[string][]string
	}{
		{"a full valid profile", `{"title":"Dr","dob":"1990-02-28","address":{"street":"1 Main St","city":"Paris","country":"FR","zip":"75001"},"country":"FR","city":"Paris","zip":"75001","age":35,"phones":["+33 1 23"],"website":"https://example.com/me","newsletter":true}`, nil},
		{"only the required field", `{"dob":"2000-01-01"}`, nil},
		{"a null zip is allowed", `{"dob":"2000-01-01","zip":null}`, nil},
		{"an unknown top-level attribute is allowed", `{"dob":"2000-01-01","nickname":"al"}`, nil},
		{"missing dob", `{"title":"Mr"}`, map[string][]string{"dob": {"This field is required."}}},
		{"an impossible date", `{"dob":"1990-02-30"}`, map[string][]string{"dob": {"Enter a valid date."}}},
		{"a date in another format", `{"dob":"28/02/1990"}`, map[string][]string{"dob": {"Enter a valid date."}}},
		{"a date that is a number", `{"dob":19900228}`, map[string][]string{"dob": {"Not a valid string."}}},
		{"a title not in the list", `{"dob":"1990-01-01","title":"Sir"}`, map[string][]string{"title": {`"Sir" is not a valid choice.`}}},
		{"a nested attribute is missing", `{"dob":"1990-01-01","address":{"country":"FR"}}`, map[string][]string{"address.city": {"This field is required."}}},
		{"nested problems are keyed by path", `{"dob":"1990-01-01","address":{"city":"` + strings.Repeat("x", 51) + `","country":"FR","zip":"7500","floor":3}}`, map[string][]string{
			"address.city":  {"Ensure this field has no more than 50 characters."},
			"address.zip":   {"This value does not match the required pattern."},
			"address.floor": {"This field is not allowed."},
		}},
		{"an address that is not an object", `{"dob":"1990-01-01","address":"1 Main St"}`, map[string][]string{"address": {"Invalid data. Expected a dictionary, but got str."}}},
		{"a bad zip explains the string branch", `{"dob":"1990-01-01","zip":"ABCDE"}`, map[string][]string{"zip": {"This value does not match the required pattern."}}},
		{"a zip of the wrong type", `{"dob":"1990-01-01","zip":12345}`, map[string][]string{"zip": {"This value does not match any of the allowed forms."}}},
		{"an age that is not an integer", `{"dob":"1990-01-01","age":3.5}`, map[string][]string{"age": {"A valid integer is required."}}},
		{"an age out of range", `{"dob":"1990-01-01","age":200}`, map[string][]string{"age": {"Ensure this value is less than or equal to 150."}}},
		{"a negative age", `{"dob":"1990-01-01","age":-1}`, map[string][]string{"age": {"Ensure this value is greater than or equal to 0."}}},
		{"list items are keyed by index", `{"dob":"1990-01-01","phones":["+33 1 23","1"]}`, map[string][]string{"phones.1": {"Ensure this field has at least 3 characters."}}},
		{"too many list items", `{"dob":"1990-01-01","phones":["123","456","789","012"]}`, map[string][]string{"phones": {"Ensure this field has no more than 3 elements."}}},
		{"a list that is a string", `{"dob":"1990-01-01","phones":"123"}`, map[string][]string{"phones": {`Expected a list of items but got type "str".`}}},
		{"a null where a string is needed", `{"dob":null}`, map[string][]string{"dob": {"This field may not be null."}}},
		{"a bad URL", `{"dob":"1990-01-01","website":"not a url"}`, map[string][]string{"website": {"Enter a valid URL."}}},
		{"a boolean that is a string", `{"dob":"1990-01-01","newsletter":"yes"}`, map[string][]string{"newsletter": {"Must be a valid boolean."}}},
		{"every problem at once", `{"title":"Sir","age":"old"}`, map[string][]string{
			"dob":   {"This field is required."},
			"title": {`"Sir" is not a valid choice.`},
			"age":   {"A valid integer is required."},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Validate(decode(t, tc.profile))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
	t.Run("an empty profile lacks the required field", func(t *testing.T) {
		if got := s.Validate(nil); !reflect.DeepEqual(got, map[string][]string{"dob": {"This field is required."}}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("values that are not JSON are refused, not a panic", func(t *testing.T) {
		got := s.Validate(map[string]any{"dob": "1990-01-01", "age": struct{}{}})
		if len(got) == 0 {
			t.Error("a Go struct value was accepted")
		}
	})
}

func TestClosedSchemaAndRootErrors(t *testing.T) {
	s := compile(t, `{"type":"object","properties":{"bio":{"type":"string"}},"additionalProperties":false,"maxProperties":1}`)
	got := s.Validate(map[string]any{"bio": "hi", "x": 1.0})
	want := map[string][]string{
		"x":                {"This field is not allowed."},
		profileschema.Root: {"Ensure this field has no more than 1 attributes."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNoSchemaAcceptsEverything(t *testing.T) {
	for _, schema := range []string{"", "  \n"} {
		s, err := profileschema.Compile([]byte(schema))
		if err != nil || s != nil {
			t.Fatalf("Compile(%q) = %v, %v", schema, s, err)
		}
		if got := s.Validate(map[string]any{"anything": []any{1.0, "x"}}); got != nil {
			t.Errorf("a nil schema refused: %v", got)
		}
	}
	s, err := profileschema.CompileValue(nil)
	if err != nil || s != nil {
		t.Fatalf("CompileValue(nil) = %v, %v", s, err)
	}
}

func TestCompileValueFromYAMLShapes(t *testing.T) {
	// What go.yaml.in/yaml/v3 gives for a schema written in latchkey.yaml.
	s, err := profileschema.CompileValue(map[string]any{
		"type":       "object",
		"properties": map[string]any{"age": map[string]any{"type": "integer", "maximum": 150}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Validate(map[string]any{"age": 151.0}); !reflect.DeepEqual(got, map[string][]string{"age": {"Ensure this value is less than or equal to 150."}}) {
		t.Errorf("got %v", got)
	}
}

func TestBadSchemas(t *testing.T) {
	for name, schema := range map[string]string{
		"not JSON":                `{"type":`,
		"not an object":           `["type"]`,
		"an unknown type":         `{"type":"text"}`,
		"a bad pattern":           `{"properties":{"zip":{"type":"string","pattern":"(["}}}`,
		"a reference to a file":   `{"$ref":"file:///etc/passwd"}`,
		"a reference to the web":  `{"properties":{"a":{"$ref":"https://example.com/s.json"}}}`,
		"a dangling local anchor": `{"$ref":"#/$defs/missing"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := profileschema.Compile([]byte(schema)); err == nil {
				t.Fatal("compiled")
			}
		})
	}
	t.Run("local references work", func(t *testing.T) {
		s := compile(t, `{"$defs":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}},"properties":{"zip":{"$ref":"#/$defs/zip"}}}`)
		if got := s.Validate(map[string]any{"zip": "1"}); !reflect.DeepEqual(got, map[string][]string{"zip": {"This value does not match the required pattern."}}) {
			t.Errorf("got %v", got)
		}
	})
}
