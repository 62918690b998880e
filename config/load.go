package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment variables with a meaning of their own.
const (
	// EnvPrefix starts every environment override: LATCHKEY_ + the key path
	// in upper case, with __ between levels (LATCHKEY_STORAGE__DRIVER).
	EnvPrefix = "LATCHKEY_"
	// EnvConfig names the config file when Load is given no path.
	EnvConfig = "LATCHKEY_CONFIG"
	// EnvBootstrapPrefix and EnvTestPrefix start variables that are not
	// config keys and are left to other code.
	EnvBootstrapPrefix = "LATCHKEY_BOOTSTRAP_"
	EnvTestPrefix      = "LATCHKEY_TEST_"
)

// Load builds the configuration: Default(), then the YAML file at path (or at
// $LATCHKEY_CONFIG when path is empty; no file at all is fine), then the
// LATCHKEY_* overrides found in environ (os.Environ() format), then Validate.
//
// Unknown keys in the file and LATCHKEY_* variables that name no key are
// errors, so a typo never silently leaves a default in place.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	fromEnv := false
	if path == "" {
		path, _ = lookupEnv(environ, EnvConfig)
		fromEnv = path != ""
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			if fromEnv {
				return Config{}, fmt.Errorf("read config file named by %s: %w", EnvConfig, err)
			}
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeYAML(path, data, &cfg); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeYAML decodes one YAML document over *out, a pointer to a struct,
// refusing unknown keys. file only labels errors.
func decodeYAML(file string, data []byte, out any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return yamlError(file, err)
	}
	if doc.Kind == 0 {
		return nil // empty, or only comments
	}
	if problems := checkKnownKeys(&doc, reflect.TypeOf(out)); len(problems) > 0 {
		return unknownKeysError(file, problems)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: expected a single YAML document", file)
	}
	return nil
}

// lookupEnv is os.LookupEnv over an environ slice; the last entry wins, as
// it does for exec.Cmd.Env.
func lookupEnv(environ []string, name string) (string, bool) {
	value, found := "", false
	for _, kv := range environ {
		if k, v, ok := cutEnv(kv); ok && k == name {
			value, found = v, true
		}
	}
	return value, found
}

func cutEnv(kv string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(kv, "=")
	return name, value, ok && name != ""
}
