package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"

	rs "github.com/latchkey-auth/latchkey/resourceserver"
)

// Product is one product of the store.
type Product struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Price     string `json:"price"`
	Published bool   `json:"published"`
}

// The permissions of the example, Django-style (app_label.codename).
const (
	PermPublish = "store.can_publish_product"
)

// catalog is the in-memory product table.
type catalog struct {
	mu       sync.Mutex
	next     int64
	products []Product
}

// NewHandler returns the products API, protected by v:
//
//	GET    /products/               anyone (AllowAny)
//	GET    /products/{id}/          anyone
//	POST   /products/               store.add_product     (DjangoModelPermissions)
//	PUT    /products/{id}/          store.change_product  (DjangoModelPermissions)
//	PATCH  /products/{id}/          store.change_product
//	POST   /products/{id}/publish/  store.can_publish_product (HasPermission)
//	DELETE /products/{id}/          staff (IsAdminUser)
//	GET    /me/                     any token: who the API thinks you are
func NewHandler(v *rs.Verifier) http.Handler {
	c := &catalog{next: 1}
	model := rs.DjangoModelPermissions("store", "product")
	mux := http.NewServeMux()
	handle := func(pattern string, perm rs.Permission, h http.HandlerFunc) {
		mux.Handle(pattern, v.Require(perm)(h))
	}
	handle("GET /products/{$}", rs.AllowAny, c.list)
	handle("GET /products/{id}/{$}", rs.AllowAny, c.get)
	handle("POST /products/{$}", model, c.create)
	handle("PUT /products/{id}/{$}", model, c.update)
	handle("PATCH /products/{id}/{$}", model, c.update)
	handle("POST /products/{id}/publish/{$}", rs.HasPermission(PermPublish), c.publish)
	handle("DELETE /products/{id}/{$}", rs.IsAdminUser, c.delete)
	handle("GET /me/{$}", rs.IsAuthenticated, me)
	return mux
}

func (c *catalog) list(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	writeJSON(w, http.StatusOK, append([]Product{}, c.products...))
}

// find returns the index of the product of the path's id, or writes 404.
func (c *catalog) find(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(c.products, func(p Product) bool { return p.ID == id })
	if err != nil || i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "No Product matches the given query."})
		return 0, false
	}
	return i, true
}

func (c *catalog) get(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.find(w, r); ok {
		writeJSON(w, http.StatusOK, c.products[i])
	}
}

// input reads a product's name and price; PATCH may leave either out.
func input(w http.ResponseWriter, r *http.Request, p *Product, partial bool) bool {
	var in struct {
		Name  *string `json:"name"`
		Price *string `json:"price"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "JSON parse error - " + err.Error()})
		return false
	}
	errs := map[string][]string{}
	if in.Name != nil && *in.Name != "" {
		p.Name = *in.Name
	} else if in.Name != nil || !partial {
		errs["name"] = []string{"This field is required."}
	}
	if in.Price != nil {
		if _, err := strconv.ParseFloat(*in.Price, 64); err != nil {
			errs["price"] = []string{"A valid number is required."}
		}
		p.Price = *in.Price
	} else if !partial {
		errs["price"] = []string{"This field is required."}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, errs)
		return false
	}
	return true
}

func (c *catalog) create(w http.ResponseWriter, r *http.Request) {
	var p Product
	if !input(w, r, &p, false) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.ID = c.next
	c.next++
	c.products = append(c.products, p)
	writeJSON(w, http.StatusCreated, p)
}

func (c *catalog) update(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.find(w, r)
	if !ok {
		return
	}
	p := c.products[i]
	if !input(w, r, &p, r.Method == http.MethodPatch) {
		return
	}
	c.products[i] = p
	writeJSON(w, http.StatusOK, p)
}

func (c *catalog) publish(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.find(w, r); ok {
		c.products[i].Published = true
		writeJSON(w, http.StatusOK, c.products[i])
	}
}

func (c *catalog) delete(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.find(w, r); ok {
		c.products = slices.Delete(c.products, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// me shows the verified principal.
func me(w http.ResponseWriter, r *http.Request) {
	p, _ := rs.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"sub": p.Subject, "username": p.Username, "client_id": p.ClientID, "scopes": p.Scopes,
		"groups": p.Groups, "permissions": p.Permissions, "is_staff": p.IsStaff(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
