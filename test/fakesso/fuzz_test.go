package fakesso

import (
	"testing"
)

// FuzzPaginate: any next_token and max_result either yields a page of
// the listing within bounds or an InvalidRequestException.
func FuzzPaginate(f *testing.F) {
	f.Add("", "")
	f.Add("YWNjb3VudHMjMQ", "1")
	f.Add("cm9sZXM6MTExMTExMTExMTExIzE", "100")
	f.Add("YWNjb3VudHMjLTE", "0")
	items := []int{1, 2, 3, 4, 5}
	f.Fuzz(func(t *testing.T, next, max string) {
		q := map[string][]string{}
		if next != "" {
			q["next_token"] = []string{next}
		}
		if max != "" {
			q["max_result"] = []string{max}
		}
		page, token, e := paginate(items, q, "accounts")
		if e != nil {
			if e.status != 400 || e.typ != "InvalidRequestException" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if len(page) > 100 || len(page) > len(items) {
			t.Fatalf("page of %d", len(page))
		}
		if token != "" {
			if _, _, e := paginate(items, map[string][]string{"next_token": {token}}, "accounts"); e != nil {
				t.Fatalf("own next token %q refused", token)
			}
			if _, _, e := paginate(items, map[string][]string{"next_token": {token}}, "roles:1"); e == nil {
				t.Fatalf("next token %q accepted by another listing", token)
			}
		}
	})
}
