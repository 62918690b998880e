package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/storage"
)

// AuditEvents is what /admin/events/ reads; storage.AuditEvents
// implements it.
type AuditEvents interface {
	ListAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, string, error)
}

// eventView is an audit event as the admin API shows it (contract §5).
type eventView struct {
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	Outcome   string            `json:"outcome"`
	Actor     string            `json:"actor"`
	Subject   string            `json:"subject"`
	ClientID  string            `json:"client_id"`
	Backend   string            `json:"backend"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Detail    map[string]string `json:"detail"`
}

// listEvents is GET /admin/events/?type=&user=&client_id=&since=&cursor=&page_size=:
// newest first, DRF's cursor pagination ({"next", "previous", "results"}).
// since is RFC 3339 or Unix seconds; user is a user ID.
func (a *api) listEvents(c *gin.Context) {
	q := storage.AuditQuery{
		Type: c.Query("type"), Subject: c.Query("user"), ClientID: c.Query("client_id"), Cursor: c.Query("cursor"),
	}
	problems := gin.H{}
	if s := c.Query("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			n, nerr := strconv.ParseInt(s, 10, 64)
			if nerr != nil || n < 0 {
				problems["since"] = []string{"Enter an RFC 3339 time or Unix seconds."}
			}
			t = time.Unix(n, 0)
		}
		q.Since = t
	}
	if s := c.Query("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			problems["page_size"] = []string{"Enter a whole number from 1 to 100."}
		}
		q.Limit = n
	}
	if len(problems) > 0 {
		c.AbortWithStatusJSON(http.StatusBadRequest, problems)
		return
	}
	if a.Events == nil {
		c.JSON(http.StatusOK, gin.H{"next": nil, "previous": nil, "results": []eventView{}})
		return
	}
	list, next, err := a.Events.ListAuditEvents(c.Request.Context(), q)
	if errors.Is(err, storage.ErrInvalidInput) {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "Invalid cursor."})
		return
	}
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	out := make([]eventView, len(list))
	for i, e := range list {
		out[i] = eventView{
			ID: e.ID, Time: e.Time, Type: e.Type, Outcome: e.Outcome, Actor: e.Actor, Subject: e.Subject,
			ClientID: e.ClientID, Backend: e.Backend, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail,
		}
		if out[i].Detail == nil {
			out[i].Detail = map[string]string{}
		}
	}
	var nextURL *string
	if next != "" {
		u := *c.Request.URL
		v := u.Query()
		v.Set("cursor", next)
		s := (&url.URL{Path: u.Path, RawQuery: v.Encode()}).String()
		nextURL = &s
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"next": nextURL, "previous": nil, "results": out})
}

func (a *api) listAdminKeys(c *gin.Context) {
	list, err := a.Accounts.ListAdminKeys(c.Request.Context())
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": len(list), "next": nil, "previous": nil, "results": list})
}

// createAdminKey is POST /admin/api-keys/ {"name": …}: 201 with the key,
// shown this once.
func (a *api) createAdminKey(c *gin.Context) {
	var in struct {
		Name string `json:"name"`
	}
	if err := bindJSON(c, &in); err != nil {
		a.writeAdminError(c, err)
		return
	}
	out, err := a.Accounts.CreateAdminKey(c.Request.Context(), in.Name)
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, out)
}

func (a *api) revokeAdminKey(c *gin.Context) {
	if err := a.Accounts.RevokeAdminKey(c.Request.Context(), c.Param("id")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
