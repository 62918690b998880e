package config

import (
	"net/url"
	"os"
	"strings"
	"unicode/utf8"
)

// UI brands the hosted pages (handlers/pages): activation, password reset,
// and later login, consent and logout.
type UI struct {
	// ProductName is the name the pages show in their title and header.
	ProductName string `yaml:"product_name"`
	// LogoURL is an image shown above the product name: an https URL, or a
	// path on the issuer ("/static/logo.png"); empty shows none.
	LogoURL string `yaml:"logo_url"`
	// Templates is a folder of files that override the built-in templates
	// one by one (layout.html, activate.html, ...); empty: built-in only.
	Templates string `yaml:"templates"`
}

func defaultUI() UI { return UI{ProductName: "latchkey"} }

func (c *Config) validateUI(p *problems) {
	u := c.UI
	if strings.TrimSpace(u.ProductName) == "" || utf8.RuneCountInString(u.ProductName) > 100 || !utf8.ValidString(u.ProductName) {
		p.add("ui.product_name", "must be a name of 1 to 100 characters, got %q", u.ProductName)
	}
	if u.LogoURL != "" {
		l, err := url.Parse(u.LogoURL)
		switch {
		case err != nil, strings.ContainsAny(u.LogoURL, " \"'<>"):
			p.add("ui.logo_url", "must be an https URL or an absolute path such as /logo.png, got %q", u.LogoURL)
		case l.Scheme == "" && l.Host == "" && strings.HasPrefix(l.Path, "/") && !strings.HasPrefix(u.LogoURL, "//"):
		case l.Scheme == "https" && l.Host != "":
		default:
			p.add("ui.logo_url", "must be an https URL or an absolute path such as /logo.png, got %q", u.LogoURL)
		}
	}
	if dir := u.Templates; dir != "" {
		switch info, err := os.Stat(dir); {
		case err != nil:
			p.add("ui.templates", "cannot use directory %q: %v", dir, err)
		case !info.IsDir():
			p.add("ui.templates", "%q is a file, not a directory", dir)
		}
	}
}
