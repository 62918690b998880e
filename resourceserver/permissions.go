package resourceserver

import (
	"net/http"
	"strings"
)

// Permission decides whether a request may go on, like a DRF permission
// class's has_permission. p is nil for an anonymous request (no
// Authorization header). Check returns nil to allow, or a Denial.
type Permission interface {
	Check(r *http.Request, p *Principal) *Denial
}

// PermissionFunc adapts a function to Permission.
type PermissionFunc func(r *http.Request, p *Principal) *Denial

// Check calls f.
func (f PermissionFunc) Check(r *http.Request, p *Principal) *Denial { return f(r, p) }

// Denial says why a request is refused. An anonymous request is answered
// 401 (DRF's NotAuthenticated); an authenticated one 403 with Message, and
// with error="insufficient_scope" and Scopes in WWW-Authenticate when the
// denial is about scopes (RFC 6750 §3.1).
type Denial struct {
	Message string   // the "detail" of the 403 body; DRF's default when empty
	Scopes  []string // the scopes that would have allowed the request
}

// Messages of DRF's exceptions (rest_framework/exceptions.py).
const (
	MsgNotAuthenticated     = "Authentication credentials were not provided."
	MsgAuthenticationFailed = "Incorrect authentication credentials."
	MsgPermissionDenied     = "You do not have permission to perform this action."
)

var denied = &Denial{}

// IsSafeMethod reports GET, HEAD and OPTIONS (DRF's SAFE_METHODS).
func IsSafeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// AllowAny allows every request.
var AllowAny Permission = PermissionFunc(func(*http.Request, *Principal) *Denial { return nil })

// IsAuthenticated allows any valid token: a user's or a client's.
var IsAuthenticated Permission = PermissionFunc(func(_ *http.Request, p *Principal) *Denial {
	if p == nil {
		return denied
	}
	return nil
})

// IsAdminUser allows staff users (Principal.IsStaff).
var IsAdminUser Permission = PermissionFunc(func(_ *http.Request, p *Principal) *Denial {
	if p == nil || !p.IsStaff() {
		return denied
	}
	return nil
})

// IsAuthenticatedOrReadOnly allows safe methods to anyone, the others to
// any valid token.
var IsAuthenticatedOrReadOnly Permission = PermissionFunc(func(r *http.Request, p *Principal) *Denial {
	if p == nil && !IsSafeMethod(r.Method) {
		return denied
	}
	return nil
})

// HasScope allows tokens granted every one of scopes; others get 403
// insufficient_scope naming them.
func HasScope(scopes ...string) Permission {
	d := &Denial{Scopes: scopes}
	return PermissionFunc(func(_ *http.Request, p *Principal) *Denial {
		if p == nil || !p.HasScope(scopes...) {
			return d
		}
		return nil
	})
}

// HasPermission allows tokens carrying every one of perms (Django
// permission names, app_label.codename).
func HasPermission(perms ...string) Permission {
	return PermissionFunc(func(_ *http.Request, p *Principal) *Denial {
		if p == nil || !p.HasPermission(perms...) {
			return denied
		}
		return nil
	})
}

// MethodPermissions maps an HTTP method to the permissions it requires,
// like DjangoModelPermissions' perms_map: the request must be
// authenticated, and a method missing from the map is refused.
func MethodPermissions(perms map[string][]string) Permission {
	return PermissionFunc(func(r *http.Request, p *Principal) *Denial {
		need, ok := perms[r.Method]
		if p == nil || !ok || !p.HasPermission(need...) {
			return denied
		}
		return nil
	})
}

// DjangoModelPermissions is DRF's DjangoModelPermissions for the model
// app.model: GET, HEAD and OPTIONS need only authentication; POST needs
// app.add_model, PUT and PATCH app.change_model, DELETE app.delete_model.
func DjangoModelPermissions(app, model string) Permission {
	perm := func(action string) []string { return []string{app + "." + action + "_" + model} }
	return MethodPermissions(map[string][]string{
		http.MethodGet: nil, http.MethodHead: nil, http.MethodOptions: nil,
		http.MethodPost: perm("add"), http.MethodPut: perm("change"), http.MethodPatch: perm("change"),
		http.MethodDelete: perm("delete"),
	})
}

// DjangoModelPermissionsOrAnonReadOnly is DjangoModelPermissions that lets
// anonymous requests read.
func DjangoModelPermissionsOrAnonReadOnly(app, model string) Permission {
	return Or(PermissionFunc(func(r *http.Request, p *Principal) *Denial {
		if p == nil && IsSafeMethod(r.Method) {
			return nil
		}
		return denied
	}), DjangoModelPermissions(app, model))
}

// And allows a request every one of perms allows (DRF's &); it answers
// with the first denial.
func And(perms ...Permission) Permission {
	return PermissionFunc(func(r *http.Request, p *Principal) *Denial {
		for _, perm := range perms {
			if d := perm.Check(r, p); d != nil {
				return d
			}
		}
		return nil
	})
}

// Or allows a request any one of perms allows (DRF's |); refused, it
// answers with the scopes of every denial and the first message.
func Or(perms ...Permission) Permission {
	return PermissionFunc(func(r *http.Request, p *Principal) *Denial {
		var out Denial
		for _, perm := range perms {
			d := perm.Check(r, p)
			if d == nil {
				return nil
			}
			if out.Message == "" {
				out.Message = d.Message
			}
			out.Scopes = append(out.Scopes, d.Scopes...)
		}
		return &out
	})
}

// Not allows what perm refuses (DRF's ~).
func Not(perm Permission) Permission {
	return PermissionFunc(func(r *http.Request, p *Principal) *Denial {
		if perm.Check(r, p) == nil {
			return denied
		}
		return nil
	})
}

// ObjectPermission decides about one object, like a DRF permission
// class's has_object_permission; a handler calls CheckObject once it has
// loaded the object.
type ObjectPermission interface {
	CheckObject(r *http.Request, p *Principal, obj any) *Denial
}

// ObjectPermissionFunc adapts a function to ObjectPermission.
type ObjectPermissionFunc func(r *http.Request, p *Principal, obj any) *Denial

// CheckObject calls f.
func (f ObjectPermissionFunc) CheckObject(r *http.Request, p *Principal, obj any) *Denial {
	return f(r, p, obj)
}

// Owned is an object with an owner: the sub of the user it belongs to.
type Owned interface {
	OwnerSubject() string
}

// IsLoggedInUserOrAdmin allows staff, and the user an object belongs to:
// obj is an Owned, or a user's subject as a string (the seeds'
// IsLoggedInUserOrAdmin: obj == request.user or request.user.is_staff).
var IsLoggedInUserOrAdmin ObjectPermission = ObjectPermissionFunc(func(_ *http.Request, p *Principal, obj any) *Denial {
	if p == nil {
		return denied
	}
	if p.IsStaff() {
		return nil
	}
	var owner string
	switch o := obj.(type) {
	case Owned:
		owner = o.OwnerSubject()
	case string:
		owner = o
	}
	if owner == "" || p.IsClient() || owner != p.Subject {
		return denied
	}
	return nil
})

// scopeList is the scope parameter of WWW-Authenticate.
func scopeList(scopes []string) string { return strings.Join(scopes, " ") }
