package profileschema_test

import (
	"encoding/json"
	"fmt"

	"github.com/latchkey-auth/latchkey/profileschema"
)

func ExampleSchema_Validate() {
	s, err := profileschema.CompileText([]byte(`
type: object
properties:
  title: {type: string, enum: [Mr, Mrs, Ms, Dr]}
  dob:   {type: string, format: date}
  address:
    type: object
    properties: {city: {type: string}, zip: {type: string, pattern: "^[0-9]{5}$"}}
    required: [city]
`))
	if err != nil {
		panic(err)
	}
	var profile map[string]any
	_ = json.Unmarshal([]byte(`{"title": "Ms", "dob": "1990-02-30", "address": {"zip": "75001"}}`), &profile)
	out, _ := json.Marshal(s.Validate(profile))
	fmt.Println(string(out))
	// Output: {"address.city":["This field is required."],"dob":["Enter a valid date."]}
}
