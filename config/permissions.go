package config

// Permissions is the `permissions:` section: the permission mapper's
// configuration (contract §6, docs/permissions.md). Its rules are checked
// by the permissions package (permissions.New), which `latchkey config
// check` and `latchkey serve` run through server.CheckConfig.
type Permissions struct {
	// Groups are seeded at start: a group named here that does not exist
	// yet is created with these permissions. An existing group is left as
	// it is, so edits made at run time through /admin/groups/ survive a
	// restart.
	Groups map[string][]string `yaml:"groups"`
	// Scopes maps a scope to the permissions a user must hold to be granted
	// it (requires) and the permissions it releases into the token's
	// permissions claim (covers: glob patterns, path.Match syntax). With no
	// scopes at all, a token carries every permission of its user.
	Scopes map[string]ScopeRule `yaml:"scopes"`
	// Claims maps a scope to the extra claims it releases in ID tokens and
	// userinfo: claim name → source (a user attribute such as "username",
	// or "profile.<key>[.<key>...]" for a profile attribute).
	Claims map[string]map[string]string `yaml:"claims"`
}

// ScopeRule is one entry of permissions.scopes.
type ScopeRule struct {
	Requires []string `yaml:"requires"`
	Covers   []string `yaml:"covers"`
}
