package web

import "net/http"

// help answers GET /help: how to read the dashboard's figures and charts
// and how sign-off works.
func (w *Web) help(rw http.ResponseWriter, r *http.Request) {
	w.Render(rw, r, http.StatusOK, "help", Page{Title: "How to read this dashboard"})
}
