package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/tufrepo"
)

// Bundles is the search-bundle repository the server serves.
type Bundles interface {
	// Handler serves the repository's metadata and targets read-only.
	Handler() http.Handler
	// PublishHandler accepts author-signed releases from requests that
	// auth lets through.
	PublishHandler(auth tufrepo.Authorizer) http.Handler
}

var _ Bundles = (*tufrepo.Repo)(nil)

// mayPublish lets a publish request through when it carries the API token
// (Authorization: Bearer) of an enabled user who may publish search
// bundles: a search_author or an admin. The release must still carry
// enough trusted author signatures: the repository checks those.
func (s *Server) mayPublish(r *http.Request) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return fmt.Errorf("%w: send a search author's API token as 'Authorization: Bearer TOKEN'", tufrepo.ErrUnauthenticated)
	}
	u, err := s.opts.Store.UserByToken(r.Context(), auth.HashSecret(tok), s.now())
	if errors.Is(err, collector.ErrNotFound) {
		s.log.Warn("bundle publish with an unknown or expired API token", "remote", r.RemoteAddr)
		return fmt.Errorf("%w: the API token is unknown, expired or its user disabled", tufrepo.ErrUnauthenticated)
	}
	if err != nil {
		return fmt.Errorf("look up api token: %w", err)
	}
	if !collector.CanPublishBundles(&u) {
		s.log.Warn("bundle publish refused: the user may not publish", "user", u.Name, "role", u.Role)
		return fmt.Errorf("%w: user %s has role %s; publishing needs %s or %s",
			tufrepo.ErrForbidden, u.Name, u.Role, collector.RoleSearchAuthor, collector.RoleAdmin)
	}
	s.log.Info("search bundle upload authorised", "user", u.Name, "role", u.Role)
	return nil
}
