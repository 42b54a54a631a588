package web

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

func (f *fakeStore) ICBMeasureRows(_ context.Context, pack, icb string, ids []string) ([]collector.MeasureRow, error) {
	var out []collector.MeasureRow
	for _, s := range f.subs {
		p, err := f.Practice(context.Background(), s.Practice)
		if s.Pack != pack || err != nil || (icb != "" && p.ICB != icb) {
			continue
		}
		for _, m := range s.Measures {
			for _, id := range ids {
				if m.MeasureID == id {
					m.Practice, m.AsOf = s.Practice, s.AsOf
					out = append(out, m)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AsOf < out[j].AsOf })
	return out, nil
}

func (f *fakeStore) ICBDocuments(_ context.Context, pack, icb, asOf string) ([]store.StoredDocument, error) {
	var out []store.StoredDocument
	for _, s := range f.subs {
		p, err := f.Practice(context.Background(), s.Practice)
		if s.Pack != pack || s.AsOf != asOf || err != nil || (icb != "" && p.ICB != icb) {
			continue
		}
		body := s.Body
		if len(body) == 0 {
			body, _ = json.Marshal(map[string]any{"practice": s.Practice})
		}
		out = append(out, store.StoredDocument{Practice: s.Practice, Body: body})
	}
	return out, nil
}
