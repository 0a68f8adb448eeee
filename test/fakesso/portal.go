package fakesso

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultPageSize is the page size when max_result is absent.
const defaultPageSize = 20

func portalError(status int, typ, msg string) *apiError {
	return &apiError{status: status, typ: typ, message: msg}
}

type accountInfo struct {
	AccountID    string `json:"accountId"`
	AccountName  string `json:"accountName"`
	EmailAddress string `json:"emailAddress"`
}

type roleInfo struct {
	RoleName  string `json:"roleName"`
	AccountID string `json:"accountId"`
}

type roleCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      int64  `json:"expiration"`
}

func (s *Server) servePortal(w http.ResponseWriter, r *http.Request) {
	c := Call{Time: s.opts.Now(), RequestID: newRequestID()}
	fail := func(e *apiError) {
		c.Status, c.ErrorCode = e.status, e.typ
		s.record(c)
		s.writeError(w, c.RequestID, e)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/assignment/accounts":
		c.Operation = "ListAccounts"
	case r.Method == http.MethodGet && r.URL.Path == "/assignment/roles":
		c.Operation = "ListAccountRoles"
	case r.Method == http.MethodGet && r.URL.Path == "/federation/credentials":
		c.Operation = "GetRoleCredentials"
	default:
		fail(portalError(http.StatusNotFound, "UnknownOperationException", "unknown operation"))
		return
	}
	q := r.URL.Query()
	c.AccountID, c.RoleName = q.Get("account_id"), q.Get("role_name")
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		fail(portalError(http.StatusTooManyRequests, "TooManyRequestsException", "HTTP 429 Unknown Code"))
		return
	}
	tokens := r.Header.Values("X-Amz-Sso_bearer_token")
	if len(tokens) == 0 || tokens[0] == "" {
		fail(portalError(http.StatusBadRequest, "InvalidRequestException", "x-amz-sso_bearer_token is required"))
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	sess, ok := s.tokens[tokens[0]]
	s.mu.Unlock()
	if len(tokens) != 1 || !ok || !now.Before(sess.expires) {
		fail(portalError(http.StatusUnauthorized, "UnauthorizedException", "Session token not found or invalid"))
		return
	}
	if !slices.Contains(sess.scopes, ScopeAccountAccess) {
		fail(portalError(http.StatusUnauthorized, "UnauthorizedException", "Session token not authorized for account access"))
		return
	}
	c.UserName = sess.user.UserName
	assigned := s.assignments(sess.user)

	switch c.Operation {
	case "ListAccounts":
		var accounts []accountInfo
		for _, a := range assigned {
			if slices.ContainsFunc(accounts, func(x accountInfo) bool { return x.AccountID == a.AccountID }) {
				continue
			}
			info := accountInfo{AccountID: a.AccountID}
			for _, acct := range s.opts.Accounts {
				if acct.ID == a.AccountID {
					info.AccountName, info.EmailAddress = acct.Name, acct.Email
				}
			}
			accounts = append(accounts, info)
		}
		page, next, e := paginate(accounts, q, "accounts")
		if e != nil {
			fail(e)
			return
		}
		c.Status = http.StatusOK
		s.record(c)
		writeJSON(w, c.RequestID, http.StatusOK, struct {
			NextToken   string        `json:"nextToken,omitempty"`
			AccountList []accountInfo `json:"accountList"`
		}{next, page})
	case "ListAccountRoles":
		if c.AccountID == "" {
			fail(portalError(http.StatusBadRequest, "InvalidRequestException", "account_id is required"))
			return
		}
		var roles []roleInfo
		for _, a := range assigned {
			if a.AccountID == c.AccountID {
				roles = append(roles, roleInfo{RoleName: a.PermissionSet, AccountID: a.AccountID})
			}
		}
		if len(roles) == 0 {
			fail(portalError(http.StatusNotFound, "ResourceNotFoundException", "No access"))
			return
		}
		page, next, e := paginate(roles, q, "roles:"+c.AccountID)
		if e != nil {
			fail(e)
			return
		}
		c.Status = http.StatusOK
		s.record(c)
		writeJSON(w, c.RequestID, http.StatusOK, struct {
			NextToken string     `json:"nextToken,omitempty"`
			RoleList  []roleInfo `json:"roleList"`
		}{next, page})
	case "GetRoleCredentials":
		if c.AccountID == "" || c.RoleName == "" {
			fail(portalError(http.StatusBadRequest, "InvalidRequestException", "account_id and role_name are required"))
			return
		}
		if !slices.Contains(assigned, Assignment{AccountID: c.AccountID, PermissionSet: c.RoleName}) {
			fail(portalError(http.StatusNotFound, "ResourceNotFoundException", "No access"))
			return
		}
		life := DefaultSessionDuration
		if d, ok := s.opts.SessionDurations[c.RoleName]; ok {
			life = d
		}
		cred := Credential{
			AccessKeyID: newAccessKeyID(), SecretAccessKey: randomText(40), SessionToken: "IQoJb3JpZ2luX2Vj" + randomText(600),
			RoleARN: s.RoleARN(c.AccountID, c.RoleName), SessionName: sess.user.UserName,
			AccountID: c.AccountID, PermissionSet: c.RoleName, UserName: sess.user.UserName,
			// Whole seconds, as the epoch-millisecond answer is.
			Expiration: now.Add(life).Truncate(time.Second),
		}
		c.AccessKeyID, c.Status = cred.AccessKeyID, http.StatusOK
		s.mu.Lock()
		s.issued[cred.AccessKeyID] = cred
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		writeJSON(w, c.RequestID, http.StatusOK, struct {
			RoleCredentials roleCredentials `json:"roleCredentials"`
		}{roleCredentials{cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, cred.Expiration.UnixMilli()}})
	}
}

// paginate answers one page; next tokens name the listing they belong to,
// so a token of another listing is refused.
func paginate[T any](items []T, q map[string][]string, listing string) ([]T, string, *apiError) {
	size := defaultPageSize
	if v, ok := q["max_result"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 100 {
			return nil, "", portalError(http.StatusBadRequest, "InvalidRequestException", "max_result must be between 1 and 100")
		}
		size = n
	}
	start := 0
	if v, ok := q["next_token"]; ok && v[0] != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v[0])
		l, off, found := strings.Cut(string(raw), "#")
		n, convErr := strconv.Atoi(off)
		if err != nil || !found || l != listing || convErr != nil || n < 0 || n > len(items) {
			return nil, "", portalError(http.StatusBadRequest, "InvalidRequestException", "Invalid next token")
		}
		start = n
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(listing + "#" + strconv.Itoa(end)))
	}
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	return page, next, nil
}
