package config

import _ "embed"

//go:embed latchkey.example.yaml
var example string

// Example returns a fully commented latchkey.yaml with every key at its
// default value. A test keeps it equal to Default().
func Example() string { return example }
