package profileschema_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/latchkey-auth/latchkey/profileschema"
)

const tutorialYAML = `
type: object
properties:
  title: {type: string, enum: [Mr, Mrs, Ms, Dr]}
  dob: {type: string, format: date}
  address:
    type: object
    properties:
      city: {type: string, maxLength: 50}
      zip: {type: string, pattern: "^[0-9]{5}$"}
    required: [city]
  since: {const: 2020-01-01}
required: [dob]
`

func TestCompileTextYAMLAndJSON(t *testing.T) {
	for name, text := range map[string]string{"yaml": tutorialYAML, "json": tutorialSchema} {
		t.Run(name, func(t *testing.T) {
			s, err := profileschema.CompileText([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Validate(decode(t, `{"title":"Sir","dob":"1990-13-01","address":{"zip":"1"}}`))
			want := map[string][]string{
				"title":        {`"Sir" is not a valid choice.`},
				"dob":          {"Enter a valid date."},
				"address.city": {"This field is required."},
				"address.zip":  {"This value does not match the required pattern."},
			}
			if name == "json" {
				want["address.country"] = []string{"This field is required."}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
	t.Run("an unquoted YAML date is the JSON string", func(t *testing.T) {
		s, err := profileschema.CompileText([]byte(tutorialYAML))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Validate(decode(t, `{"dob":"1990-01-01","since":"2020-01-01"}`)); got != nil {
			t.Errorf("got %v", got)
		}
	})
	for name, text := range map[string]string{
		"not YAML":          "type: [object",
		"a non-string key":  "properties:\n  1: {type: string}\n",
		"a list at the top": "- type\n",
		"a bad type":        "type: text\n",
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			if _, err := profileschema.CompileText([]byte(text)); err == nil {
				t.Fatal("compiled")
			}
		})
	}
	if s, err := profileschema.CompileText([]byte("  ")); s != nil || err != nil {
		t.Errorf("empty text: %v, %v", s, err)
	}
}

func TestCompileFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(path, []byte(tutorialYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := profileschema.CompileFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Validate(decode(t, `{}`)); !reflect.DeepEqual(got, map[string][]string{"dob": {"This field is required."}}) {
		t.Errorf("got %v", got)
	}
	if _, err := profileschema.CompileFile(path + ".missing"); err == nil {
		t.Error("a missing file compiled")
	}
}
