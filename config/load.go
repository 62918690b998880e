package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
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
	// EnvBootstrapPrefix starts the bootstrap variables (BootstrapEnv),
	// read by the server on the first start only; any other variable with
	// this prefix is a typo and an error.
	EnvBootstrapPrefix = "LATCHKEY_BOOTSTRAP_"
	// EnvTestPrefix starts the test suite's variables, which are not config
	// keys and are left to the tests.
	EnvTestPrefix = "LATCHKEY_TEST_"
	// EnvMasterKey and EnvMasterKeyFile are short names of
	// LATCHKEY_KEYS__MASTER_KEY and LATCHKEY_KEYS__MASTER_KEY_FILE, the
	// names the README's production section and docker-compose.yml use.
	EnvMasterKey     = "LATCHKEY_MASTER_KEY"
	EnvMasterKeyFile = "LATCHKEY_MASTER_KEY_FILE"
)

// The bootstrap variables (contract §5): they choose the admin user and the
// demo client made on the first start with an empty database.
const (
	EnvBootstrapAdminUsername = "LATCHKEY_BOOTSTRAP_ADMIN_USERNAME"
	EnvBootstrapAdminEmail    = "LATCHKEY_BOOTSTRAP_ADMIN_EMAIL"
	EnvBootstrapAdminPassword = "LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD"
	EnvBootstrapClientID      = "LATCHKEY_BOOTSTRAP_CLIENT_ID"
	EnvBootstrapClientSecret  = "LATCHKEY_BOOTSTRAP_CLIENT_SECRET"
)

// BootstrapEnv lists the bootstrap variables.
var BootstrapEnv = []string{
	EnvBootstrapAdminUsername, EnvBootstrapAdminEmail, EnvBootstrapAdminPassword,
	EnvBootstrapClientID, EnvBootstrapClientSecret,
}

// envAliases maps a short variable name to the key variable it stands for.
var envAliases = map[string]string{
	EnvMasterKey:     "LATCHKEY_KEYS__MASTER_KEY",
	EnvMasterKeyFile: "LATCHKEY_KEYS__MASTER_KEY_FILE",
}

// Load builds the configuration: Default(), then the YAML file at path (or at
// $LATCHKEY_CONFIG when path is empty; no file at all is fine), then the
// LATCHKEY_* overrides found in environ (os.Environ() format), then Validate.
//
// Unknown keys in the file and LATCHKEY_* variables that name no key are
// errors, so a typo never silently leaves a default in place.
//
// Without an issuer in the file or the environment, the issuer is derived
// from the listen address (IssuerFromListen), and IssuerDerived is true.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	cfg.Issuer = ""
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
	if cfg.Issuer == "" {
		cfg.Issuer, cfg.IssuerDerived = IssuerFromListen(cfg.Listen, cfg.TLS.CertFile != ""), true
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

// IssuerFromListen is the issuer a server listening on listen answers as
// when none is configured: http (https with tls) on the listen port, with
// host localhost when the listener is on a loopback or every address
// (127.0.0.1:8084 and :8084 give http://localhost:8084), else the listen
// host. An address that is not host:port gives "" (Validate reports it).
func IssuerFromListen(listen string, tls bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if addr, err := netip.ParseAddr(host); host == "" || (err == nil && addr.IsUnspecified()) || isLoopbackHost(host) {
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + bracketIPv6(host)
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
