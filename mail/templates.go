package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
)

// The built-in templates, djoser's e-mail set.
const (
	Activation                  = "activation"
	Confirmation                = "confirmation"
	PasswordReset               = "password_reset"
	PasswordChangedConfirmation = "password_changed_confirmation"
	UsernameReset               = "username_reset"
	UsernameChangedConfirmation = "username_changed_confirmation"
)

// BuiltinNames lists the templates that always exist, in djoser's order.
var BuiltinNames = []string{
	Activation, Confirmation, PasswordReset, PasswordChangedConfirmation,
	UsernameReset, UsernameChangedConfirmation,
}

// File suffixes of the three parts of a template.
const (
	subjectSuffix = ".subject.txt"
	textSuffix    = ".txt"
	htmlSuffix    = ".html"
)

//go:embed templates/*
var builtin embed.FS

// Data is what a template sees, as djoser's e-mail context: {{.SiteName}},
// {{.URL}}, {{.User.username}}...
type Data struct {
	SiteName string
	Domain   string
	Protocol string
	// URL is the link the front-end page handles, e.g.
	// https://app.example.com/#/activate/{uid}/{token}. A relative one
	// ("#/activate/..." as djoser's ACTIVATION_URL) is made absolute with
	// Protocol and Domain before rendering (see AbsoluteURL).
	URL   string
	UID   string
	Token string
	// User holds the user's public fields by their API names (id,
	// username, email, first_name, last_name...).
	User map[string]any
}

// Templates renders messages from the built-in templates and the overrides
// of a folder. It is safe for concurrent use.
type Templates struct {
	set map[string]*template
}

type template struct {
	subject *texttemplate.Template
	text    *texttemplate.Template // nil: no text part
	html    *htmltemplate.Template // nil: no HTML part
}

// namePattern is what a template name in a folder must look like.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadTemplates returns the built-in templates, with every file of dir
// (which may be empty: no overrides) that is named <name>.subject.txt,
// <name>.txt or <name>.html replacing that part of template <name>.
//
// Overriding the text body of a built-in template without also giving its
// HTML body drops the built-in HTML body, so the message says what the text
// says; an empty (or blank) .html file also means "no HTML part". A folder
// may add templates of its own: <name>.subject.txt with a .txt and/or .html
// body. Subjects and text bodies are text/template, HTML bodies are
// html/template (escaped); every template is tried with sample Data, so a
// template that cannot render fails here and not when a user needs it.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{set: map[string]*template{}}
	builtinFS, err := fs.Sub(builtin, "templates")
	if err != nil {
		return nil, fmt.Errorf("mail: built-in templates: %w", err)
	}
	for _, name := range BuiltinNames {
		tmpl, err := parseTemplate(builtinFS, "built-in", name, true)
		if err != nil {
			return nil, err
		}
		t.set[name] = tmpl
	}
	if dir != "" {
		if err := t.override(dir); err != nil {
			return nil, err
		}
	}
	for _, name := range t.Names() {
		if _, err := t.Render(name, sampleData); err != nil {
			return nil, fmt.Errorf("mail: template %q does not render: %w", name, err)
		}
	}
	return t, nil
}

// sampleData is the Data every template is tried with at load time.
var sampleData = Data{
	SiteName: "Example", Domain: "example.com", Protocol: "https",
	URL: "https://example.com/#/activate/MQ/c8ruz7-0123456789abcdef", UID: "MQ", Token: "c8ruz7-0123456789abcdef",
	User: map[string]any{"id": int64(1), "username": "alice", "email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell"},
}

func (t *Templates) override(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("mail: templates folder: %w", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name, ok := templateName(e.Name())
		if !ok {
			continue
		}
		if !namePattern.MatchString(name) {
			return fmt.Errorf("mail: templates folder %s: file %q: a template name must match %s", dir, e.Name(), namePattern)
		}
		names[name] = true
	}
	dirFS := os.DirFS(dir)
	for name := range names {
		base, builtinName := t.set[name]
		tmpl, err := parseTemplate(dirFS, dir, name, !builtinName)
		if err != nil {
			return err
		}
		if builtinName {
			tmpl = merge(base, tmpl, fileExists(dirFS, name+textSuffix), fileExists(dirFS, name+htmlSuffix))
			if tmpl.text == nil && tmpl.html == nil {
				return fmt.Errorf("mail: templates folder %s: template %q would have no body: %s and %s are both empty", dir, name, name+textSuffix, name+htmlSuffix)
			}
		}
		t.set[name] = tmpl
	}
	return nil
}

// merge puts the parts found in a folder over the built-in ones. A text body
// without an HTML body drops the built-in HTML.
func merge(base, over *template, hasText, hasHTML bool) *template {
	out := *base
	if over.subject != nil {
		out.subject = over.subject
	}
	if hasText {
		out.text = over.text
		if !hasHTML {
			out.html = nil
		}
	}
	if hasHTML {
		out.html = over.html
	}
	return &out
}

// templateName is the template a file belongs to, if any.
func templateName(file string) (string, bool) {
	for _, suffix := range []string{subjectSuffix, textSuffix, htmlSuffix} {
		if name, ok := strings.CutSuffix(file, suffix); ok && name != "" {
			return name, true
		}
	}
	return "", false
}

func fileExists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// parseTemplate reads the parts of name found in fsys. complete requires a
// subject and a body (built-in and new templates); otherwise missing parts
// stay nil for merge.
func parseTemplate(fsys fs.FS, where, name string, complete bool) (*template, error) {
	var out template
	read := func(suffix string) (string, bool, error) {
		b, err := fs.ReadFile(fsys, name+suffix)
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("mail: template %s: %w", filepath.Join(where, name+suffix), err)
		}
		return string(b), true, nil
	}
	label := func(suffix string) string { return filepath.Join(where, name+suffix) }

	src, ok, err := read(subjectSuffix)
	if err != nil {
		return nil, err
	}
	if ok {
		if out.subject, err = texttemplate.New(name + subjectSuffix).Option("missingkey=zero").Parse(src); err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", label(subjectSuffix), err)
		}
	} else if complete {
		return nil, fmt.Errorf("mail: template %q: %s is missing", name, label(subjectSuffix))
	}
	src, hasText, err := read(textSuffix)
	if err != nil {
		return nil, err
	}
	if hasText && strings.TrimSpace(src) != "" {
		if out.text, err = texttemplate.New(name + textSuffix).Option("missingkey=zero").Parse(src); err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", label(textSuffix), err)
		}
	}
	src, hasHTML, err := read(htmlSuffix)
	if err != nil {
		return nil, err
	}
	if hasHTML && strings.TrimSpace(src) != "" {
		if out.html, err = htmltemplate.New(name + htmlSuffix).Option("missingkey=zero").Parse(src); err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", label(htmlSuffix), err)
		}
	}
	if complete && out.text == nil && out.html == nil {
		return nil, fmt.Errorf("mail: template %q: needs a body: %s or %s", name, label(textSuffix), label(htmlSuffix))
	}
	return &out, nil
}

// Names lists the templates that Render knows, sorted.
func (t *Templates) Names() []string {
	names := make([]string, 0, len(t.set))
	for name := range t.set {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Render fills template name with data. The returned message has no
// recipient: the caller sets To. The subject is one line (line breaks and
// runs of spaces become one space), so data cannot add header lines.
func (t *Templates) Render(name string, data Data) (Message, error) {
	tmpl, ok := t.set[name]
	if !ok {
		return Message{}, fmt.Errorf("mail: no template %q (known: %s)", name, strings.Join(t.Names(), ", "))
	}
	data.URL = data.AbsoluteURL()
	var m Message
	var buf bytes.Buffer
	if err := tmpl.subject.Execute(&buf, data); err != nil {
		return Message{}, fmt.Errorf("mail: render %s subject: %w", name, err)
	}
	m.Subject = strings.Join(strings.Fields(buf.String()), " ")
	if tmpl.text != nil {
		buf.Reset()
		if err := tmpl.text.Execute(&buf, data); err != nil {
			return Message{}, fmt.Errorf("mail: render %s text body: %w", name, err)
		}
		m.Text = buf.String()
	}
	if tmpl.html != nil {
		buf.Reset()
		if err := tmpl.html.Execute(&buf, data); err != nil {
			return Message{}, fmt.Errorf("mail: render %s HTML body: %w", name, err)
		}
		m.HTML = buf.String()
	}
	return m, nil
}
