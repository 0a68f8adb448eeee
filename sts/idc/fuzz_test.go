package idc

import (
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/authn"
)

// FuzzChoose: whatever a route and a client send, the chosen pair is one
// the identity's groups admit, or the request is refused.
func FuzzChoose(f *testing.F) {
	one := 1
	c, err := compileMappings([]Mapping{
		{Group: "dev", Account: "111111111111", PermissionSet: "S3ReadOnly", Priority: &one},
		{Group: "dev", Account: "222222222222", PermissionSet: "ReadOnly"},
		{Group: "ops", Account: "222222222222", PermissionSet: "AdministratorAccess"},
	}, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("dev", "", "", "", "")
	f.Add("dev", "222222222222", "", "222222222222", "AdministratorAccess")
	f.Add("dev,ops", "", "ReadOnly", "111111111111", "")
	f.Add("x", "111111111111\x00", "S3ReadOnly", "", "")
	f.Fuzz(func(t *testing.T, groups, routeAcct, routeSet, hdrAcct, hdrSet string) {
		id := &authn.Identity{Groups: strings.Split(groups, ",")}
		list := func(v string) []string {
			if v == "" {
				return nil
			}
			return strings.Split(v, "|")
		}
		r := Requested{RouteAccount: list(routeAcct), RoutePermissionSet: list(routeSet), HeaderAccount: list(hdrAcct), HeaderPermissionSet: list(hdrSet)}
		p, err := c.choose(id, r)
		if err != nil {
			if p != (Pair{}) {
				t.Fatalf("refusal with a pair %+v", p)
			}
			return
		}
		if !c.allowed(id, p) {
			t.Fatalf("groups %v got %+v outside the allow list", id.Groups, p)
		}
		if len(r.RouteAccount) == 1 && p.Account != r.RouteAccount[0] {
			t.Fatalf("route pinned %s, got %s", r.RouteAccount[0], p.Account)
		}
		if len(r.RoutePermissionSet) == 1 && p.PermissionSet != r.RoutePermissionSet[0] {
			t.Fatalf("route pinned %s, got %s", r.RoutePermissionSet[0], p.PermissionSet)
		}
	})
}
