package authz

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/authn"
)

// Entity types and attribute names of the Cedar model. Policies are written
// against these names; changing one breaks every deployed policy.
const (
	typeUser     types.EntityType = "User"
	typeGroup    types.EntityType = "Group"
	typeAction   types.EntityType = "Action"
	typeTool     types.EntityType = "Tool"
	typePrompt   types.EntityType = "Prompt"
	typeResource types.EntityType = "Resource"
	typeServer   types.EntityType = "Server"
)

// Actions that are not JSON-RPC methods.
const (
	// ActionStream is the bodyless GET that opens the server-to-client SSE
	// stream.
	ActionStream = "mcp:stream"
	// ActionTerminate is the bodyless DELETE that ends an MCP session.
	ActionTerminate = "mcp:terminate"
	// ActionResponse is a JSON-RPC response the client sends to answer a
	// server request (sampling, elicitation, roots). It has no method, so it
	// gets this action on the Server resource.
	ActionResponse = "mcp:response"
)

// principalEntity builds User::"<sub>" with sub, iss, email and every claim
// that converts, and a Group parent for each group. A named provider's
// user is User::"<provider>|<sub>" (Identity.UserKey) and has provider,
// roles and (for a tenant template) tenant as well.
func principalEntity(id *authn.Identity, groups []string) types.Entity {
	parents := make([]types.EntityUID, len(groups))
	for i, g := range groups {
		parents[i] = types.NewEntityUID(typeGroup, types.String(g))
	}
	claims := make(types.RecordMap, len(id.Claims))
	for k, v := range id.Claims {
		cv, ok, err := toCedar(v, 1)
		if err != nil || !ok {
			// A claim that does not convert is left out: policies that
			// read it see an absent attribute and fail closed.
			continue
		}
		claims[types.String(k)] = cv
	}
	attrs := types.RecordMap{
		"sub":    types.String(id.Subject),
		"iss":    types.String(id.Issuer),
		"claims": types.NewRecord(claims),
		"scopes": scopeSet(id.Claims),
	}
	if id.Email != "" {
		attrs["email"] = types.String(id.Email)
	}
	uid := id.Subject
	if id.Provider != "" {
		// Several identity providers: the principal is provider-qualified
		// (User::"okta|<sub>"), so a sub two IdPs both issue never names
		// one user for the other's policies.
		uid = id.UserKey
		attrs["provider"] = types.String(id.Provider)
		attrs["roles"] = stringSet(id.Roles)
		attrs["scopes"] = stringSet(id.Scopes)
		if id.Tenant != "" {
			attrs["tenant"] = types.String(id.Tenant)
		}
	}
	return types.Entity{
		UID:        types.NewEntityUID(typeUser, types.String(uid)),
		Parents:    types.NewEntityUIDSet(parents...),
		Attributes: types.NewRecord(attrs),
	}
}

// sourceIP converts Envoy's source.address ("ip", "ip:port" or
// "[v6]:port") to a Cedar ipaddr, so policies can use isInRange.
func sourceIP(s string) (types.IPAddr, bool) {
	if s == "" {
		return types.IPAddr{}, false
	}
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		// "[v6]:port" or "ip:port": no address parses with the port.
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			return types.IPAddr{}, false
		}
		s = host
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return types.IPAddr{}, false
	}
	addr = addr.Unmap()
	return types.IPAddr(netip.PrefixFrom(addr, addr.BitLen())), true
}

// baseContext holds the context attributes shared by every message of a
// request.
// baseContextKeys are the attributes baseContext sets besides the
// request's Attributes (TestBaseContextKeys keeps the list whole).
var baseContextKeys = []types.String{"time", "request_id", "mcp_session_id", "protocol_version", "source_ip"}

func baseContext(req *Request, now time.Time) types.RecordMap {
	rm := types.RecordMap{}
	for k, v := range req.Attributes {
		rm[types.String(k)] = types.String(v)
	}
	rm["time"] = types.Long(now.Unix())
	if req.RequestID != "" {
		rm["request_id"] = types.String(req.RequestID)
	}
	if req.SessionID != "" {
		rm["mcp_session_id"] = types.String(req.SessionID)
	}
	if req.ProtocolVersion != "" {
		rm["protocol_version"] = types.String(req.ProtocolVersion)
	}
	if ip, ok := sourceIP(req.SourceIP); ok {
		rm["source_ip"] = ip
	}
	return rm
}

// requestEntities overlays the request's principal and resource on the
// entities file without copying it. When the entities file also describes
// the principal or resource, its parents are added and its attributes fill
// in what the request does not set, so a group hierarchy or a tool category
// can live in the file.
type requestEntities struct {
	base      types.EntityMap
	principal types.Entity
	resource  types.Entity
}

// Get implements types.EntityGetter.
func (r *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case r.principal.UID:
		return r.principal, true
	case r.resource.UID:
		return r.resource, true
	}
	e, ok := r.base[uid]
	return e, ok
}

// mergeBase folds the entities-file entry for e's UID, if any, into e.
func mergeBase(base types.EntityMap, e types.Entity) types.Entity {
	b, ok := base[e.UID]
	if !ok {
		return e
	}
	parents := e.Parents.Slice()
	parents = append(parents, b.Parents.Slice()...)
	attrs := b.Attributes.Map()
	if attrs == nil {
		attrs = types.RecordMap{}
	}
	for k, v := range e.Attributes.All() {
		attrs[k] = v
	}
	return types.Entity{
		UID:        e.UID,
		Parents:    types.NewEntityUIDSet(parents...),
		Attributes: types.NewRecord(attrs),
		Tags:       b.Tags,
	}
}
