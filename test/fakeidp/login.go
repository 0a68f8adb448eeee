package fakeidp

import (
	"html/template"
	"net/http"
)

// loginTemplate is the login page: one button per user, each posting the
// pending request's id and the user's name to LoginPath. With no users it
// shows only the message (an error page).
var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — mcpguard quickstart identity provider</title>
<style>
body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: .5rem; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
h1 { font-size: 1.3rem; margin-top: 0; }
p { color: #333; overflow-wrap: anywhere; }
button { display: block; width: 100%; margin: .6rem 0; padding: .8rem; font-size: 1rem; border: 1px solid #888; border-radius: .3rem; background: #fff; cursor: pointer; }
button:hover { background: #e8f0fe; }
.error { color: #a00; }
</style>
</head>
<body>
<main>
<h1>Sign in to the quickstart identity provider</h1>
{{if .Users}}<p id="message">{{.Message}}</p>
<p>This test identity provider has no passwords: pick who you are.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
{{range .Users}}<button type="submit" name="user" value="{{.Name}}" id="user-{{.Name}}">{{.Label}}</button>
{{end}}</form>
{{else}}<p id="message" class="error">{{.Message}}</p>
{{end}}</main>
</body>
</html>
`))

// loginPage renders the login page (users non-empty) or an error page.
func loginPage(w http.ResponseWriter, status int, message string, users []LoginUser, request string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page must not be framed (clickjacking a login) nor run scripts.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = loginTemplate.Execute(w, struct {
		Message, Action, Request string
		Users                    []LoginUser
	}{message, LoginPath, request, users})
}
