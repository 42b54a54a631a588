package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/wire"
)

// PracticeSchemes lists the schemes a practice takes part in, retired ones
// marked; *claims.Service implements it.
type PracticeSchemes interface {
	SchemesOf(ctx context.Context, p collector.Practice) ([]claims.Listed, error)
}

var _ PracticeSchemes = (*claims.Service)(nil)

// practiceSchemes answers GET /v1/practices/{ods}/schemes: a signed agent
// request over an empty body, for the signing practice's own schemes only.
func (s *Server) practiceSchemes(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		writeProblem(w, http.StatusBadRequest, ProblemBadRequest, "this GET takes no body: sign it over an empty body")
		return
	}
	p, ok := s.verified(w, r, nil)
	if !ok {
		return
	}
	if ods := r.PathValue("ods"); ods != p.ODS {
		s.log.Warn("practice asked for another practice's schemes", "practice", p.ODS, "asked", ods)
		writeProblem(w, http.StatusForbidden, ProblemForbidden,
			fmt.Sprintf("the request is signed by practice %s but asks for %q: a practice reads only its own schemes (%s)", p.ODS, ods, wire.PracticeSchemesPath(p.ODS)))
		return
	}
	out := wire.PracticeSchemes{Schemes: []wire.PracticeScheme{}}
	if s.opts.Schemes != nil {
		list, err := s.opts.Schemes.SchemesOf(r.Context(), p)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		for _, l := range list {
			out.Schemes = append(out.Schemes, wire.PracticeScheme{ID: l.ID, Baseline: l.Baseline, Pack: l.Pack.ID,
				Versions: l.Pack.Versions, Periods: l.PeriodList(), Retired: l.IsRetired()})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
